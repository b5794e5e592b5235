//! The web console (issue 17): its built single-page app served from the
//! binary (`assets`), and the sessions a person signs in to it with
//! (`session`: the endpoints; `cookie`: the cookie; `csrf`: admission of
//! cookie-authenticated requests). The sessions themselves live in
//! `access::console`; docs/decisions.md ("Issue 17: console sessions")
//! says why they work the way they do.

pub mod assets;
pub mod cookie;
pub mod csrf;
pub mod session;
