//! The SDL checked in at `bff/schema.graphql` is the schema the code serves. Regenerate
//! it with `CLOUDGRID_UPDATE_SCHEMA=1 cargo test -p cloudgrid-bff schema`.

#[test]
fn the_checked_in_schema_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let current = cloudgrid_bff::sdl();
    if std::env::var_os("CLOUDGRID_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &current).expect("write schema.graphql");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == current,
        "bff/schema.graphql is stale; regenerate it with CLOUDGRID_UPDATE_SCHEMA=1 cargo test -p cloudgrid-bff schema"
    );
}
