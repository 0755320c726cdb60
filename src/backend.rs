//! The Burn backend a run uses. `flex` (pure-Rust CPU) is always built; `wgpu` only with the
//! `wgpu` cargo feature, because it adds 16–34 minutes to a clean build on 2 cores.

use burn::tensor::Device;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Flex,
    Wgpu,
}

impl Backend {
    /// Part of every cache key: backends round differently and draw different random streams.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Wgpu => "wgpu",
        }
    }

    pub fn device(self) -> anyhow::Result<Device> {
        match self {
            Backend::Flex => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(not(feature = "wgpu"))]
            Backend::Wgpu => anyhow::bail!(
                "this modrepro was built without the wgpu backend (fix: `cargo build --release --features wgpu`)"
            ),
        }
    }
}
