//! cloudgrid-bff
