//! The routes: every endpoint, registered with its OpenAPI description
//! (`utoipa-axum`'s `routes!` takes the method and path from the handler's
//! `#[utoipa::path]`, so the router and the document cannot disagree).
//!
//! The one exception is the tile routes: axum matches the rest of a path
//! with `{*path}`, which OpenAPI cannot spell, so they are registered by
//! hand below and described by their handlers' `#[utoipa::path]` under
//! `{path}`; `tests/openapi.rs` sends every documented method to every
//! documented path.

use axum::routing::get;
use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::admin::{agents, keys, projects, signing_keys};
use super::console::{assets, session};
use super::openapi::{self, ApiDoc};
use super::{
    checkpoints, entries, export, export_plan, ingest, operations, otlp, proofs, query, tiles,
};
use crate::logs::Root;

/// The tile routes, as axum spells them (see the module's comment).
const TILE: &str = "/tlog/tile/{*path}";
const PROJECT_TILE: &str = "/projects/{project}/tlog/tile/{*path}";

/// Every route that `routes!` can register, with its description.
fn described() -> OpenApiRouter<Root> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(ingest::post_events, query::get_events))
        .routes(routes!(otlp::http::post_traces))
        .routes(routes!(query::get_stats))
        .routes(routes!(export::post_export))
        .routes(routes!(export_plan::post_export_plan))
        .routes(routes!(checkpoints::get_checkpoints))
        .routes(routes!(proofs::get_checkpoint))
        .routes(routes!(entries::get_entry))
        .routes(routes!(proofs::get_proof))
        .routes(routes!(proofs::get_consistency))
        .routes(routes!(tiles::tlog_checkpoint))
        .routes(routes!(tiles::project_checkpoint))
        .routes(routes!(keys::whoami))
        .routes(routes!(keys::list, keys::create))
        .routes(routes!(keys::show, keys::update, keys::revoke))
        .routes(routes!(keys::rotate))
        .routes(routes!(keys::mint_token))
        .routes(routes!(agents::list, agents::register))
        .routes(routes!(agents::show, agents::update))
        .routes(routes!(projects::list, projects::create))
        .routes(routes!(signing_keys::list))
        .routes(routes!(signing_keys::rotate))
        .routes(routes!(operations::healthz))
        .routes(routes!(operations::readyz))
        .routes(routes!(operations::metrics))
        .routes(routes!(openapi::get_openapi))
        .routes(routes!(
            session::sign_in,
            session::current,
            session::sign_out
        ))
}

/// Descriptions of the routes registered by hand.
#[derive(OpenApi)]
#[openapi(paths(tiles::tlog_tile, tiles::project_tile))]
struct HandRegistered;

/// The API's router.
pub fn router(root: Root) -> Router {
    let (router, _) = described().split_for_parts();
    router
        .route(TILE, get(tiles::tlog_tile))
        .route(PROJECT_TILE, get(tiles::project_tile))
        // The web console's app (GET outside the API), else the JSON 404.
        .fallback(assets::fallback)
        .with_state(root)
}

/// The OpenAPI document of [`router`].
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = described().split_for_parts();
    doc.merge(HandRegistered::openapi());
    openapi::finish(&mut doc);
    doc
}
