//! The policy: its vocabulary (`tokenizer`) and its ONNX runtime (`onnx`).
//!
//! The model is a T5 trained by the Python `train` stage (`stages/train/train.py`), exported as
//! three ONNX graphs: the encoder, the decoder's first step (which returns the self-attention
//! key/value cache) and the decoder's later steps (which take and extend that cache).

pub mod onnx;
pub mod tokenizer;
