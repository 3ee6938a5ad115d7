//! Compiles CloudGrid's own `.proto` contracts with a pure-Rust protobuf compiler, so a
//! build needs no `protoc` on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["cloudgrid/bus.proto", "cloudgrid/control.proto", "cloudgrid/live.proto", "cloudgrid/read.proto"];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["."])?;
    tonic_prost_build::configure()
        .bytes(".cloudgrid.bus.v1.IngestEnvelope.otlp")
        .bytes(".cloudgrid.live.v1.LiveNotice.items_json")
        .bytes(".cloudgrid.read.v1")
        .compile_fds(fds)?;
    Ok(())
}
