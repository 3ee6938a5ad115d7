//! cloudgrid-pipeline
