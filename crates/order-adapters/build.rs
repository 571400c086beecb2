//! Rebuilds the crate when a migration is added: `embed_migrations!` reads the
//! migrations folder at compile time, and Cargo, unless told, only watches the files a
//! build already read, so a new migration's folder would be left out of the binary.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
