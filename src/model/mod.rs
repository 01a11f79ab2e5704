//! The policy: its vocabulary (`tokenizer`), its ONNX runtime (`onnx`) and the
//! grammar-constrained beam search that drives it (`beam`).
//!
//! The model is a T5 trained by the Python `train` stage (`stages/train/train.py`), exported as
//! three ONNX graphs: the encoder, the decoder's first step (which returns the self-attention
//! key/value cache) and the decoder's later steps (which take and extend that cache).

pub mod beam;
pub mod onnx;
pub mod tokenizer;
