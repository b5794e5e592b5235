//! What the commands print: aligned tables and record views ([`table`]),
//! JSON objects shown generically ([`objects`]), CSV rows ([`csv`]) and pretty
//! JSON ([`json`]).

pub mod csv;
pub mod json;
pub mod objects;
pub mod table;
