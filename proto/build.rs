//! Compiles `keyway/events/v1/*.proto` with protox, a pure-Rust protobuf
//! compiler, so building needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["keyway/events/v1/usage.proto", "keyway/events/v1/keys.proto"];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["."])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
