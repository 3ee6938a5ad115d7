//! cloudgrid-sources
