//! cloudgrid-bench
