//! Which decoder runs a camera: chosen at run time from what the GStreamer registry has.
//!
//! Order per codec (best first): `nvv4l2decoder` (Jetson) → `nvh264dec`/`nvh265dec` (NVIDIA
//! dGPU) → VA-API (`vah264dec`, then the older `vaapih264dec`) → `avdec_h264`/`avdec_h265`
//! (software). A camera may name its decoder (`decoder = "avdec_h264"`); a named decoder that
//! the registry lacks is an error that lists what is there. The choice is pure logic over a
//! [`Registry`], so it is unit-tested with a made-up listing; `GstRegistry` is the real one.

/// A video codec, as far as decoder choice is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    H264,
    H265,
    Jpeg,
    Vp8,
    Vp9,
    Av1,
}

impl Codec {
    /// The codec of encoded video caps (`video/x-h264` …); `None` for raw or unknown media.
    pub fn from_caps_name(name: &str) -> Option<Self> {
        Some(match name {
            "video/x-h264" => Codec::H264,
            "video/x-h265" => Codec::H265,
            "image/jpeg" => Codec::Jpeg,
            "video/x-vp8" => Codec::Vp8,
            "video/x-vp9" => Codec::Vp9,
            "video/x-av1" => Codec::Av1,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Codec::H264 => "h264",
            Codec::H265 => "h265",
            Codec::Jpeg => "jpeg",
            Codec::Vp8 => "vp8",
            Codec::Vp9 => "vp9",
            Codec::Av1 => "av1",
        }
    }

    /// Decoders for this codec, best first.
    pub fn preference(self) -> &'static [&'static str] {
        match self {
            Codec::H264 => &[
                "nvv4l2decoder",
                "nvh264dec",
                "vah264dec",
                "vaapih264dec",
                "avdec_h264",
            ],
            Codec::H265 => &[
                "nvv4l2decoder",
                "nvh265dec",
                "vah265dec",
                "vaapih265dec",
                "avdec_h265",
            ],
            Codec::Jpeg => &["nvjpegdec", "vajpegdec", "jpegdec"],
            Codec::Vp8 => &["nvv4l2decoder", "vavp8dec", "vp8dec", "avdec_vp8"],
            Codec::Vp9 => &[
                "nvv4l2decoder",
                "nvvp9dec",
                "vavp9dec",
                "vp9dec",
                "avdec_vp9",
            ],
            Codec::Av1 => &[
                "nvv4l2decoder",
                "nvav1dec",
                "vaav1dec",
                "av1dec",
                "dav1ddec",
                "avdec_av1",
            ],
        }
    }
}

/// What elements exist.
pub trait Registry {
    fn has(&self, factory: &str) -> bool;
}

/// The process's GStreamer registry.
pub struct GstRegistry;

impl Registry for GstRegistry {
    fn has(&self, factory: &str) -> bool {
        gstreamer::ElementFactory::find(factory).is_some()
    }
}

impl<F: Fn(&str) -> bool> Registry for F {
    fn has(&self, factory: &str) -> bool {
        self(factory)
    }
}

/// The decoder for `codec`: the camera's own choice when given (it must exist), else the first
/// of the codec's preference list that the registry has.
pub fn choose(
    codec: Codec,
    registry: &dyn Registry,
    wanted: Option<&str>,
) -> Result<&'static str, String> {
    if let Some(name) = wanted {
        return match codec.preference().iter().find(|d| **d == name) {
            Some(d) if registry.has(d) => Ok(d),
            Some(_) => Err(format!(
                "decoder `{name}` is not installed; {}",
                listing(codec, registry)
            )),
            None => Err(format!(
                "decoder `{name}` does not decode {}; {}",
                codec.as_str(),
                listing(codec, registry)
            )),
        };
    }
    codec
        .preference()
        .iter()
        .find(|d| registry.has(d))
        .copied()
        .ok_or_else(|| {
            format!(
                "no {} decoder is installed (tried {})",
                codec.as_str(),
                codec.preference().join(", ")
            )
        })
}

fn listing(codec: Codec, registry: &dyn Registry) -> String {
    let present: Vec<&str> = codec
        .preference()
        .iter()
        .copied()
        .filter(|d| registry.has(d))
        .collect();
    if present.is_empty() {
        format!("no {} decoder is installed", codec.as_str())
    } else {
        format!(
            "installed {} decoders: {}",
            codec.as_str(),
            present.join(", ")
        )
    }
}

/// Whether frames from `decoder` live in device memory and need `nvvidconv` to reach ours.
pub fn needs_nvvidconv(decoder: &str) -> bool {
    decoder == "nvv4l2decoder" || decoder == "nvjpegdec"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(names: &'static [&'static str]) -> impl Fn(&str) -> bool {
        move |n: &str| names.contains(&n)
    }

    #[test]
    fn best_available_decoder_wins() {
        let jetson = listing(&["nvv4l2decoder", "avdec_h264", "avdec_h265", "nvvidconv"]);
        assert_eq!(choose(Codec::H264, &jetson, None), Ok("nvv4l2decoder"));
        let dgpu = listing(&["nvh264dec", "nvh265dec", "vah264dec", "avdec_h264"]);
        assert_eq!(choose(Codec::H264, &dgpu, None), Ok("nvh264dec"));
        assert_eq!(choose(Codec::H265, &dgpu, None), Ok("nvh265dec"));
        let intel = listing(&["vaapih264dec", "avdec_h264"]);
        assert_eq!(choose(Codec::H264, &intel, None), Ok("vaapih264dec"));
        let plain = listing(&["avdec_h264", "avdec_h265", "jpegdec"]);
        assert_eq!(choose(Codec::H265, &plain, None), Ok("avdec_h265"));
        assert_eq!(choose(Codec::Jpeg, &plain, None), Ok("jpegdec"));
    }

    #[test]
    fn a_camera_can_name_its_decoder() {
        let dgpu = listing(&["nvh264dec", "avdec_h264"]);
        assert_eq!(
            choose(Codec::H264, &dgpu, Some("avdec_h264")),
            Ok("avdec_h264")
        );
        let e = choose(Codec::H264, &dgpu, Some("vah264dec")).expect_err("not installed");
        assert!(
            e.contains("not installed") && e.contains("nvh264dec, avdec_h264"),
            "{e}"
        );
        let e = choose(Codec::H264, &dgpu, Some("avdec_h265")).expect_err("wrong codec");
        assert!(e.contains("does not decode h264"), "{e}");
    }

    #[test]
    fn nothing_installed_is_a_clear_error() {
        let none = listing(&[]);
        let e = choose(Codec::H265, &none, None).expect_err("none");
        assert!(e.starts_with("no h265 decoder is installed"), "{e}");
    }

    #[test]
    fn only_jetson_decoders_need_nvvidconv() {
        assert!(needs_nvvidconv("nvv4l2decoder"));
        assert!(!needs_nvvidconv("nvh264dec"));
        assert!(!needs_nvvidconv("avdec_h264"));
        assert_eq!(Codec::from_caps_name("video/x-h265"), Some(Codec::H265));
        assert_eq!(Codec::from_caps_name("video/x-raw"), None);
    }
}
