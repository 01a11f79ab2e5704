//! The policy on ONNX Runtime: the T5 encoder and the decoder with a key/value cache.
//!
//! `encode` runs once per batch; the decoder's first step (`decoder_init.onnx`) returns the
//! self-attention cache, and every later step (`decoder_step.onnx`) feeds only the newest token
//! plus that cache, so a step costs one token, not the whole prefix. Token ids and layer counts
//! come from the model's `config.json`. Decoding policy (greedy here; beam search in the search
//! stage) stays outside the runtime so it can be tested with a fake decoder.
//!
//! ONNX Runtime itself is loaded dynamically (`ort` with `load-dynamic`) from
//! `ORT_DYLIB_PATH`, or from the `onnxruntime` wheel in the train stage's Python environment
//! (`scripts/setup-python.sh`).

use anyhow::{anyhow, bail, Context, Result};
use ort::ep::ExecutionProvider;
use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, Tensor};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The process-wide ONNX Runtime environment (ONNX Runtime allows one per process).
fn environment() -> Result<&'static ort::environment::Environment> {
    static ENV: OnceLock<std::result::Result<ort::environment::Environment, String>> =
        OnceLock::new();
    ENV.get_or_init(|| {
        let lib = find_onnxruntime().map_err(|e| format!("{e:#}"))?;
        tracing::info!("loading ONNX Runtime from {}", lib.display());
        ort::init_from(&lib)
            .map_err(|e| format!("loading {}: {e}", lib.display()))?
            .with_name("seqsynth")
            .build()
            .map_err(|e| format!("starting ONNX Runtime: {e}"))
    })
    .as_ref()
    .map_err(|e| anyhow!("{e}"))
}

/// Where `libonnxruntime.so` is: `ORT_DYLIB_PATH`, else the train stage's Python environment.
pub fn find_onnxruntime() -> Result<PathBuf> {
    if let Ok(p) = std::env::var("ORT_DYLIB_PATH") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!("ORT_DYLIB_PATH={} is not a file", p.display());
        }
        return Ok(p);
    }
    let venv = python_env_dir();
    let lib = venv.join("lib");
    if let Ok(rd) = std::fs::read_dir(&lib) {
        for e in rd.flatten() {
            let capi = e.path().join("site-packages/onnxruntime/capi");
            if let Ok(files) = std::fs::read_dir(&capi) {
                let mut libs: Vec<PathBuf> = files
                    .flatten()
                    .map(|f| f.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with("libonnxruntime.so."))
                    })
                    .collect();
                libs.sort();
                if let Some(l) = libs.pop() {
                    return Ok(l);
                }
            }
        }
    }
    bail!(
        "ONNX Runtime not found: set ORT_DYLIB_PATH, or run scripts/setup-python.sh to install \
         the onnxruntime wheel into {}",
        venv.display()
    )
}

/// The execution provider a search with `device` will run on, decided without loading ONNX
/// Runtime (so that computing a key stays cheap): `Auto` is CUDA when a GPU is visible and the
/// installed ONNX Runtime has its CUDA provider library beside it. Part of the search key, since
/// CUDA and CPU kernels round differently and so can rank beams differently.
pub fn expected_provider(device: Device) -> &'static str {
    match device {
        Device::Cpu => "cpu",
        Device::Cuda => "cuda",
        Device::Auto => {
            let gpu = super::gpu_visible();
            let cuda_lib = find_onnxruntime()
                .ok()
                .and_then(|l| {
                    l.parent()
                        .map(|d| d.join("libonnxruntime_providers_cuda.so"))
                })
                .is_some_and(|p| p.is_file());
            if gpu && cuda_lib {
                "cuda"
            } else {
                "cpu"
            }
        }
    }
}

/// The train stage's Python environment: `SEQSYNTH_VENV`, default `$HOME/.cache/seqsynth/venv`.
pub fn python_env_dir() -> PathBuf {
    match std::env::var("SEQSYNTH_VENV") {
        Ok(v) => PathBuf::from(v),
        Err(_) => PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| ".".into()))
            .join(".cache/seqsynth/venv"),
    }
}

/// Which ONNX Runtime execution provider runs the policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    /// CUDA when the loaded ONNX Runtime has it and it starts, else the CPU.
    #[default]
    Auto,
    Cpu,
    /// CUDA or an error.
    Cuda,
}

/// The parts of `config.json` the runtime needs.
#[derive(Debug, serde::Deserialize)]
struct ModelConfig {
    num_decoder_layers: usize,
    decoder_start_token_id: i64,
    eos_token_id: i64,
}

/// A loaded policy model.
pub struct Policy {
    encoder: Session,
    init: Session,
    step: Session,
    layers: usize,
    /// Whether `decoder_init.onnx` returns the cross-attention keys/values (`cross.{l}.*`).
    cross: bool,
    pub start: i64,
    pub eos: i64,
}

/// Encoder output for one batch: the hidden states and the attention mask.
pub struct Encoded {
    hidden: DynValue,
    mask: DynValue,
    batch: usize,
}

/// The decoder's state after some steps: the self-attention cache (key, value per layer), and
/// the cross-attention keys/values of the encoder states that the first step computed (empty for
/// models exported before `decoder_init.onnx` returned them).
pub struct Cache {
    past: Vec<DynValue>,
    cross: Vec<DynValue>,
}

impl Encoded {
    /// The encoder output for the rows `rows` of this one, in that order (beam search repeats
    /// each input once per beam without running the encoder again).
    pub fn gather(&self, rows: &[usize]) -> Result<Encoded> {
        Ok(Encoded {
            hidden: gather_rows::<f32>(&self.hidden, rows)?,
            mask: gather_rows::<i64>(&self.mask, rows)?,
            batch: rows.len(),
        })
    }
}

impl Cache {
    /// Reorders the rows: row `r` becomes what row `rows[r]` was (beams reshuffled).
    /// `same_source` says that every row and its new parent read the same encoder input, as in
    /// beam search, where a beam's parent is a beam of the same target: then the
    /// cross-attention keys/values are already right and are not copied.
    pub fn reorder(&mut self, rows: &[usize], same_source: bool) -> Result<()> {
        let all = |v: &[DynValue]| -> Result<Vec<DynValue>> {
            v.iter().map(|x| gather_rows::<f32>(x, rows)).collect()
        };
        self.past = all(&self.past)?;
        if !same_source {
            self.cross = all(&self.cross)?;
        }
        Ok(())
    }
}

/// A tensor made of rows (first-axis slices) of `value`, in the order of `rows`.
fn gather_rows<T>(value: &DynValue, rows: &[usize]) -> Result<DynValue>
where
    T: ort::value::PrimitiveTensorElementType + Clone + std::fmt::Debug + 'static,
{
    let (shape, data) = value.try_extract_tensor::<T>()?;
    let dims: Vec<i64> = shape.iter().copied().collect();
    let n = *dims.first().context("a tensor without a batch axis")? as usize;
    let width = data.len().checked_div(n).unwrap_or(0);
    let mut out = Vec::with_capacity(rows.len() * width);
    for &r in rows {
        if r >= n {
            bail!("row {r} of a batch of {n}");
        }
        out.extend_from_slice(&data[r * width..(r + 1) * width]);
    }
    let mut new_dims = dims;
    new_dims[0] = rows.len() as i64;
    Ok(Tensor::from_array((new_dims, out))?.into_dyn())
}

impl Policy {
    /// Loads `encoder.onnx`, `decoder_init.onnx`, `decoder_step.onnx` and `config.json` from a
    /// model directory (a `train` artifact), on the CPU.
    pub fn load(dir: &Path, threads: usize) -> Result<Policy> {
        Ok(Policy::load_on(dir, threads, Device::Cpu)?.0)
    }

    /// Like [`Policy::load`], on the execution provider `device` asks for. Returns the policy and
    /// the provider its sessions run on (`"cuda"` or `"cpu"`): `Auto` uses CUDA when the loaded
    /// ONNX Runtime can, and says so in the log when it falls back to the CPU.
    pub fn load_on(dir: &Path, threads: usize, device: Device) -> Result<(Policy, &'static str)> {
        let env = environment()?;
        let cfg_path = dir.join("config.json");
        let cfg: ModelConfig = serde_json::from_str(
            &std::fs::read_to_string(&cfg_path)
                .with_context(|| format!("reading {}", cfg_path.display()))?,
        )
        .with_context(|| format!("parsing {}", cfg_path.display()))?;
        let cuda_built = ort::ep::CUDA::is_available().unwrap_or(false);
        let use_cuda = match device {
            Device::Cpu => false,
            Device::Cuda if !cuda_built => bail!(
                "search.device = \"cuda\", but the ONNX Runtime library {} has no CUDA execution \
                 provider (install onnxruntime-gpu: SEQSYNTH_ORT=gpu scripts/setup-python.sh)",
                find_onnxruntime()?.display()
            ),
            Device::Cuda => true,
            Device::Auto => cuda_built,
        };
        let open = |name: &str, cuda: bool| -> Result<Session> {
            let path = dir.join(name);
            let mut b = Session::builder(env)
                .map_err(|e| anyhow!("{e}"))?
                .with_intra_threads(threads.max(1))
                .map_err(|e| anyhow!("{e}"))?;
            if cuda {
                b = b
                    .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
                    .map_err(|e| anyhow!("registering the CUDA execution provider: {e}"))?;
            }
            b.commit_from_file(&path)
                .map_err(|e| anyhow!("loading {}: {e}", path.display()))
        };
        let open_all = |cuda: bool| -> Result<[Session; 3]> {
            Ok([
                open("encoder.onnx", cuda)?,
                open("decoder_init.onnx", cuda)?,
                open("decoder_step.onnx", cuda)?,
            ])
        };
        let (sessions, provider) = if use_cuda {
            match open_all(true) {
                Ok(s) => (s, "cuda"),
                Err(e) if device == Device::Auto => {
                    tracing::warn!("CUDA execution provider unusable ({e:#}); running on the CPU");
                    (open_all(false)?, "cpu")
                }
                Err(e) => return Err(e),
            }
        } else {
            (open_all(false)?, "cpu")
        };
        let [encoder, init, step] = sessions;
        let cross = init.outputs().iter().any(|o| o.name() == "cross.0.key");
        tracing::info!(
            "policy {} on the {provider} execution provider",
            dir.display()
        );
        Ok((
            Policy {
                encoder,
                init,
                step,
                layers: cfg.num_decoder_layers,
                cross,
                start: cfg.decoder_start_token_id,
                eos: cfg.eos_token_id,
            },
            provider,
        ))
    }

    /// Runs the encoder on a batch of token id sequences (padded with `pad` on the right).
    pub fn encode(&mut self, batch: &[Vec<u32>], pad: u32) -> Result<Encoded> {
        let b = batch.len();
        let width = batch.iter().map(|x| x.len()).max().unwrap_or(0).max(1);
        let mut ids = vec![pad as i64; b * width];
        let mut mask = vec![0i64; b * width];
        for (i, row) in batch.iter().enumerate() {
            for (j, &t) in row.iter().enumerate() {
                ids[i * width + j] = t as i64;
                mask[i * width + j] = 1;
            }
        }
        let ids = Tensor::from_array((vec![b as i64, width as i64], ids))?;
        let mask_t = Tensor::from_array((vec![b as i64, width as i64], mask.clone()))?;
        let mut out = self.encoder.run(ort::inputs![
            "input_ids" => ids,
            "attention_mask" => mask_t,
        ])?;
        let hidden = out
            .remove("hidden")
            .context("encoder output `hidden` missing")?;
        let mask = Tensor::from_array((vec![b as i64, width as i64], mask))?.into_dyn();
        Ok(Encoded {
            hidden,
            mask,
            batch: b,
        })
    }

    /// One decoder step for every row of `enc`: `tokens[i]` is row i's newest token. Returns the
    /// log-probabilities over the vocabulary (row-major, `batch × vocab`) and the vocabulary
    /// size. `cache` is `None` before the first step; the step sets it, and every later step
    /// extends its self-attention part (the cross-attention part stays as the first step made it).
    pub fn step(
        &mut self,
        enc: &Encoded,
        tokens: &[i64],
        cache: &mut Option<Cache>,
    ) -> Result<(Vec<f32>, usize)> {
        let b = tokens.len();
        if b != enc.batch {
            bail!(
                "decoder batch {b} does not match encoder batch {}",
                enc.batch
            );
        }
        let ids = Tensor::from_array((vec![b as i64, 1], tokens.to_vec()))?;
        let mut inputs: Vec<(Cow<str>, SessionInputValue)> = vec![
            ("decoder_input_ids".into(), ids.into()),
            ("encoder_hidden_states".into(), (&enc.hidden).into()),
            ("encoder_attention_mask".into(), (&enc.mask).into()),
        ];
        let session = match cache.as_ref() {
            None => &mut self.init,
            Some(c) => {
                for l in 0..self.layers {
                    inputs.push((format!("past.{l}.key").into(), (&c.past[2 * l]).into()));
                    inputs.push((
                        format!("past.{l}.value").into(),
                        (&c.past[2 * l + 1]).into(),
                    ));
                }
                if self.cross {
                    if c.cross.len() != 2 * self.layers {
                        bail!("the decoder cache lacks the cross-attention keys/values");
                    }
                    for l in 0..self.layers {
                        inputs.push((format!("cross.{l}.key").into(), (&c.cross[2 * l]).into()));
                        inputs.push((
                            format!("cross.{l}.value").into(),
                            (&c.cross[2 * l + 1]).into(),
                        ));
                    }
                }
                &mut self.step
            }
        };
        let mut out = session.run(inputs)?;
        let (shape, logits) = out["logits"].try_extract_tensor::<f32>()?;
        let vocab = *shape.last().context("logits without a vocabulary axis")? as usize;
        let steps = logits.len() / (b * vocab);
        // the last position of each row
        let mut last = Vec::with_capacity(b * vocab);
        for i in 0..b {
            let row = &logits[(i * steps + steps - 1) * vocab..(i * steps + steps) * vocab];
            last.extend(log_softmax(row));
        }
        let take =
            |prefix: &str, out: &mut ort::session::SessionOutputs| -> Result<Vec<DynValue>> {
                let mut v = Vec::with_capacity(2 * self.layers);
                for l in 0..self.layers {
                    for kv in ["key", "value"] {
                        let name = format!("{prefix}.{l}.{kv}");
                        v.push(
                            out.remove(&name)
                                .with_context(|| format!("{name} missing"))?,
                        );
                    }
                }
                Ok(v)
            };
        let past = take("present", &mut out)?;
        match cache {
            Some(c) => c.past = past,
            None => {
                // the first step computed the cross-attention keys/values
                let cross = if self.cross {
                    take("cross", &mut out)?
                } else {
                    Vec::new()
                };
                *cache = Some(Cache { past, cross });
            }
        }
        Ok((last, vocab))
    }

    /// Greedy decoding (no grammar mask): the argmax token at every step until `</s>` or
    /// `max_len` tokens. Returns the generated ids without the start and end tokens.
    pub fn greedy(
        &mut self,
        batch: &[Vec<u32>],
        pad: u32,
        max_len: usize,
    ) -> Result<Vec<Vec<u32>>> {
        let enc = self.encode(batch, pad)?;
        let b = batch.len();
        let mut tokens = vec![self.start; b];
        let mut out: Vec<Vec<u32>> = vec![Vec::new(); b];
        let mut done = vec![false; b];
        let mut cache: Option<Cache> = None;
        for _ in 0..max_len {
            let (logp, vocab) = self.step(&enc, &tokens, &mut cache)?;
            for i in 0..b {
                let row = &logp[i * vocab..(i + 1) * vocab];
                let best = argmax(row) as i64;
                tokens[i] = best;
                if !done[i] {
                    if best == self.eos {
                        done[i] = true;
                    } else {
                        out[i].push(best as u32);
                    }
                }
            }
            if done.iter().all(|&d| d) {
                break;
            }
        }
        Ok(out)
    }
}

/// Index of the largest value (the first one on ties, as torch.argmax).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// Numerically stable log-softmax.
pub fn log_softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = row.iter().map(|&v| (v - max).exp()).sum();
    let lse = max + sum.ln();
    row.iter().map(|&v| v - lse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_and_argmax() {
        let l = log_softmax(&[1.0, 2.0, 3.0]);
        let total: f32 = l.iter().map(|v| v.exp()).sum();
        assert!((total - 1.0).abs() < 1e-6);
        assert_eq!(argmax(&[0.5, 2.0, 2.0, -1.0]), 1);
    }
}
