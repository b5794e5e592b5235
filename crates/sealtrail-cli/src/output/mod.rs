//! What the commands print: aligned tables and record views ([`table`]),
//! JSON objects shown generically ([`objects`]), CSV rows ([`csv`]), pretty
//! JSON ([`json`]) and progress bars on stderr ([`progress`]).

pub mod csv;
pub mod json;
pub mod objects;
pub mod progress;
pub mod table;
