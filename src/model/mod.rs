//! The policy: its vocabulary (`tokenizer`), its ONNX runtime (`onnx`) and the
//! grammar-constrained beam search that drives it (`beam`).
//!
//! The model is a T5 trained by the Python `train` stage (`stages/train/train.py`), exported as
//! three ONNX graphs: the encoder, the decoder's first step (which returns the self-attention
//! key/value cache) and the decoder's later steps (which take and extend that cache).

pub mod beam;
pub mod onnx;
pub mod tokenizer;

/// Whether an NVIDIA GPU is visible to this process (its device nodes exist). Cheap, so the keys
/// of `train` and `search` can say which device they will run on without loading a runtime.
pub fn gpu_visible() -> bool {
    std::path::Path::new("/dev/nvidiactl").exists() || std::path::Path::new("/dev/nvidia0").exists()
}
