//! storage-read against real storage (embedded SurrealDB in memory), filled the way
//! storage-write fills it.

mod explorer;
mod live;
mod logs;
mod metric_query;
mod retention;
mod traces;
