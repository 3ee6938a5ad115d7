//! cloudgrid-sinks
