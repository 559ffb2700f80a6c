//! A firmware image as `serve` holds it: its bytes (in memory, to serve many devices at once
//! without reading the file each time), its digests, and its copy in the data directory
//! (`ota/image.bin` and `ota/image.json`), written whole before a rollout starts.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use md5::Digest;

/// The largest image taken: twice the largest sketch an ESP8266 with 4 MB of flash can
/// update over the air (about 1 MB each for the running and the new one).
pub const MAX_IMAGE: usize = 4 * 1024 * 1024;
/// Longest version.
pub const MAX_VERSION: usize = 32;

/// An image and what it is.
#[derive(Debug, Clone)]
pub struct Image {
    /// The version it runs.
    pub version: String,
    /// Its bytes.
    pub bytes: Arc<[u8]>,
    /// Its MD5, lower-case hex (ESPhttpUpdate's `x-MD5`).
    pub md5: String,
    /// Its SHA-256, lower-case hex.
    pub sha256: String,
}

/// Why an image is not taken.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Empty.
    #[error("the image is empty; give the firmware's .bin file")]
    Empty,
    /// Too large.
    #[error("the image is {0} bytes, more than the {MAX_IMAGE} an ESP8266 can take over the air")]
    TooLarge(usize),
    /// The version is not one token of printable ASCII.
    #[error(
        "version {0:?} is not 1 to {MAX_VERSION} printable characters without spaces; give one such as 1.4.2"
    )]
    BadVersion(String),
    /// Writing it to the data directory failed.
    #[error("cannot keep the image in {}: {cause}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        cause: std::io::Error,
    },
}

/// Whether `version` can be told in an `ota:` line: one token of printable ASCII.
pub fn is_valid_version(version: &str) -> bool {
    (1..=MAX_VERSION).contains(&version.len()) && version.bytes().all(|b| b.is_ascii_graphic())
}

impl Image {
    /// The image `bytes` of `version`, with its digests.
    pub fn new(version: &str, bytes: Vec<u8>) -> Result<Self, ImageError> {
        if !is_valid_version(version) {
            return Err(ImageError::BadVersion(version.chars().take(MAX_VERSION + 8).collect()));
        }
        if bytes.is_empty() {
            return Err(ImageError::Empty);
        }
        if bytes.len() > MAX_IMAGE {
            return Err(ImageError::TooLarge(bytes.len()));
        }
        let md5 = hex(&md5::Md5::digest(&bytes));
        let sha256 = hex(&sha2::Sha256::digest(&bytes));
        Ok(Self { version: version.to_owned(), bytes: bytes.into(), md5, sha256 })
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Writes it to `<data_dir>/ota/` (`image.bin`, `image.json`), each file whole or not at
    /// all (written aside, synced, renamed).
    pub fn save(&self, data_dir: &Path) -> Result<(), ImageError> {
        let dir = data_dir.join("ota");
        let meta = serde_json::json!({
            "version": self.version, "size": self.size(), "md5": self.md5, "sha256": self.sha256,
        });
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            replace(&path, bytes).map_err(|cause| ImageError::Write { path, cause })
        };
        std::fs::create_dir_all(&dir).map_err(|cause| ImageError::Write { path: dir.clone(), cause })?;
        write("image.bin", &self.bytes)?;
        write("image.json", format!("{meta:#}\n").as_bytes())
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let aside = path.with_extension("part");
    let mut file = std::fs::File::create(&aside)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&aside, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_the_known_ones() {
        let image = Image::new("1.0", b"abc".to_vec()).unwrap();
        assert_eq!(image.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(image.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn refused_images_say_why() {
        let cases: [(&str, Vec<u8>, &str); 4] = [
            ("1.0", vec![], "empty"),
            ("1.0", vec![0; MAX_IMAGE + 1], "more than"),
            ("1 0", vec![1], "without spaces"),
            ("", vec![1], "printable"),
        ];
        for (version, bytes, why) in cases {
            let e = Image::new(version, bytes).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn save_writes_the_image_and_what_it_is() {
        let dir = tempfile::tempdir().unwrap();
        Image::new("1.0", b"abc".to_vec()).unwrap().save(dir.path()).unwrap();
        assert_eq!(std::fs::read(dir.path().join("ota/image.bin")).unwrap(), b"abc");
        let meta = std::fs::read_to_string(dir.path().join("ota/image.json")).unwrap();
        assert!(meta.contains("\"md5\": \"900150983cd24fb0d6963f7d28e17f72\""), "{meta}");
    }
}
