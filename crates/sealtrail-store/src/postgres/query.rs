//! The query index (`(value, idx)` B-trees, the planner choosing which one
//! drives) and the counts kept at ingest.

use postgres::types::ToSql;

use crate::column::{hash_from, to_i64, to_u64};
use crate::query::scope_class;
use crate::{
    EventQuery, QueryEvent, QueryIndex, QueryPage, StatsGroup, StatsQuery, StatsRow, StoreError,
};

use super::error::{pg_err, Fail};
use super::read::salt_and_body;
use super::PgStore;

/// The statement of one query page: every filter in the WHERE clause,
/// each served by its `(value, idx)` index, the planner choosing which one
/// drives. `$1`/`$2` are the index range; the values follow in `params`.
fn query_sql(q: &EventQuery, params: &mut Vec<Box<dyn ToSql + Sync>>) -> String {
    let mut sql = String::from("SELECT e.idx, e.leaf, e.time, e.header");
    if q.include_bodies {
        sql.push_str(", b.salt, b.body FROM entries e LEFT JOIN bodies b ON b.idx = e.idx");
    } else {
        sql.push_str(", NULL::bytea, NULL::bytea FROM entries e");
    }
    sql.push_str(" WHERE e.idx >= $1 AND e.idx < $2");
    let f = &q.filter;
    let mut text = |sql: &mut String, column: &str, value: &Option<String>| {
        if let Some(v) = value {
            params.push(Box::new(v.clone()));
            sql.push_str(&format!(" AND e.{column} = ${}", params.len() + 2));
        }
    };
    text(&mut sql, "agent", &f.agent);
    text(&mut sql, "session", &f.session);
    text(&mut sql, "kind", &f.kind);
    text(&mut sql, "action", &f.action);
    text(&mut sql, "tool", &f.tool);
    text(&mut sql, "outcome", &f.outcome);
    if let Some(scope) = &f.scope {
        params.push(Box::new(scope_class(scope).to_string()));
        sql.push_str(&format!(
            " AND split_part(e.scope, ':', 1) = ${} AND e.scope IS NOT NULL",
            params.len() + 2
        ));
        if scope.contains(':') {
            params.push(Box::new(scope.clone()));
            sql.push_str(&format!(" AND e.scope = ${}", params.len() + 2));
        }
    }
    if let Some(class) = &f.data_class {
        params.push(Box::new(class.clone()));
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM entry_classes c WHERE c.class = ${} AND c.idx = e.idx)",
            params.len() + 2
        ));
    }
    if let Some(subject) = &f.subject {
        params.push(Box::new(subject.0.to_vec()));
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM entry_subjects s WHERE s.subject = ${} AND s.idx = e.idx)",
            params.len() + 2
        ));
    }
    params.push(Box::new(q.page_size() as i64));
    sql.push_str(&format!(" ORDER BY e.idx LIMIT ${}", params.len() + 2));
    sql
}

/// Days since the epoch as the counts table keys them.
fn day_i32(day: Option<i64>) -> Option<i32> {
    day.map(|d| i32::try_from(d).unwrap_or(if d < 0 { i32::MIN } else { i32::MAX }))
}

impl QueryIndex for PgStore {
    fn query(&self, q: &EventQuery) -> Result<QueryPage, StoreError> {
        let mut values: Vec<Box<dyn ToSql + Sync>> = Vec::new();
        let sql = query_sql(q, &mut values);
        let limit = q.page_size();
        self.run("query the entries", |c| {
            let head = c.stmt("SELECT size FROM head WHERE id = 1")?;
            let probe = c.stmt("SELECT time FROM entries WHERE idx = $1")?;
            let page = c.client.prepare(&sql)?;
            // One snapshot for the size, the time probes and the rows.
            let mut tx = c
                .client
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let size = to_u64(tx.query_one(&head, &[])?.try_get(0)?, "head.size")?;
            let mut failed: Option<postgres::Error> = None;
            let range = q.index_range(size, |i| {
                let row = tx
                    .query_opt(&probe, &[&to_i64(i, "entries.idx")?])
                    .map_err(|e| {
                        let err = pg_err(&e);
                        failed = Some(e);
                        err
                    })?;
                let row = row.ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "table entries: entry {i} is missing below the head ({size})"
                    ))
                })?;
                let time = row.try_get(0).map_err(|e| {
                    StoreError::Corrupt(format!("table entries: time of entry {i}: {e}"))
                })?;
                to_u64(time, "entries.time")
            });
            if let Some(e) = failed {
                return Err(Fail::Pg(e));
            }
            let (lo, hi) = range?;
            if lo >= hi {
                return Ok(QueryPage::default());
            }
            let (lo, hi) = (to_i64(lo, "entries.idx")?, to_i64(hi, "entries.idx")?);
            let mut params: Vec<&(dyn ToSql + Sync)> = vec![&lo, &hi];
            params.extend(values.iter().map(|v| v.as_ref()));
            let rows = tx.query(&page, &params)?;
            tx.commit()?;
            let mut events = Vec::with_capacity(rows.len());
            for r in &rows {
                let index = to_u64(r.try_get(0)?, "entries.idx")?;
                let (salt, body) = salt_and_body(index, r.try_get(4)?, r.try_get(5)?)?;
                events.push(QueryEvent {
                    index,
                    leaf_hash: hash_from(r.try_get(1)?, "entries.leaf")?,
                    time: to_u64(r.try_get(2)?, "entries.time")?,
                    header: r.try_get(3)?,
                    body,
                    salt,
                });
            }
            let next_cursor = (events.len() == limit)
                .then(|| events.last().map(|e| e.index))
                .flatten();
            Ok(QueryPage {
                events,
                next_cursor,
            })
        })
    }

    fn stats(&self, q: &StatsQuery) -> Result<Vec<StatsRow>, StoreError> {
        q.check()?;
        let (first_day, end_day) = q.days();
        let (first_day, end_day) = (day_i32(first_day), day_i32(end_day));
        let groups: Vec<&str> = q.group_by.iter().map(|g| g.name()).collect();
        let mut sql = String::from("SELECT ");
        for g in &groups {
            sql.push_str(g);
            sql.push_str(", ");
        }
        sql.push_str(
            "coalesce(sum(n), 0)::bigint FROM counts
             WHERE ($1::int4 IS NULL OR day >= $1) AND ($2::int4 IS NULL OR day < $2)
             AND ($3::text IS NULL OR agent = $3) AND ($4::text IS NULL OR kind = $4)
             AND ($5::text IS NULL OR outcome = $5)",
        );
        if !groups.is_empty() {
            let cols = groups.join(", ");
            sql.push_str(&format!(" GROUP BY {cols} ORDER BY {cols}"));
        }
        self.run("read the counts (table counts)", |c| {
            let rows = c.client.query(
                sql.as_str(),
                &[
                    &first_day,
                    &end_day,
                    &q.filter.agent,
                    &q.filter.kind,
                    &q.filter.outcome,
                ],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let mut row = StatsRow {
                    day: None,
                    agent: None,
                    kind: None,
                    outcome: None,
                    count: to_u64(r.try_get(groups.len())?, "counts.n")?,
                };
                for (i, g) in q.group_by.iter().enumerate() {
                    match g {
                        StatsGroup::Day => row.day = Some(i64::from(r.try_get::<_, i32>(i)?)),
                        StatsGroup::Agent => row.agent = Some(r.try_get(i)?),
                        StatsGroup::Kind => row.kind = Some(r.try_get(i)?),
                        StatsGroup::Outcome => row.outcome = Some(r.try_get(i)?),
                    }
                }
                out.push(row);
            }
            Ok(out)
        })
    }
}
