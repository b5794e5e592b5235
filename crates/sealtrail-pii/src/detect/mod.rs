//! Detectors, one module per kind of value. Each exposes pure validators;
//! [`numeric`] and [`alnum`] drive the ones that start at a digit, and the
//! scanner drives the ones that start at a prefilter hit.

pub(crate) mod alnum;
pub(crate) mod boundary;
pub(crate) mod card;
pub(crate) mod crypto;
pub(crate) mod dob;
pub(crate) mod email;
pub(crate) mod iban;
pub(crate) mod national_id;
pub(crate) mod network;
pub(crate) mod numeric;
pub(crate) mod passport;
pub(crate) mod phone;
pub(crate) mod secrets;
pub(crate) mod ssn;

use crate::Entity;

/// A detection before it is given its JSON path.
#[derive(Debug, Clone)]
pub(crate) struct Raw {
    pub(crate) entity: Entity,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) score: f64,
    pub(crate) why: String,
}

/// Where detectors put what they find.
#[derive(Debug, Default)]
pub(crate) struct Sink {
    pub(crate) raw: Vec<Raw>,
}

impl Sink {
    pub(crate) fn push(
        &mut self,
        entity: Entity,
        start: usize,
        end: usize,
        score: f64,
        why: String,
    ) {
        if start < end {
            self.raw.push(Raw {
                entity,
                start,
                end,
                score: score.clamp(0.0, 1.0),
                why,
            });
        }
    }
}

/// Adds a context reason to a base reason, raising the score to `boosted`.
pub(crate) fn with_context(
    base_why: &str,
    base: f64,
    boosted: f64,
    hit: Option<crate::context::Hit>,
) -> (f64, String) {
    match hit {
        Some(h) => (boosted.max(base), format!("{base_why}, {}", h.why())),
        None => (base, base_why.to_string()),
    }
}
