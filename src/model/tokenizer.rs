//! The policy's vocabulary: one `tokenizer.json` (Hugging Face `tokenizers` format) shared by the
//! Rust side and the Python train stage.
//!
//! Layout of the vocabulary built by seqsynth (ids in this order):
//! - specials `<pad>` (0, also the decoder start), `</s>` (1, end of sequence), `<unk>` (2);
//! - sequence tokens: `<+>` and `<->`, one before each integer, which both delimit and carry the
//!   sign, and `<nan>` for any |integer| > 10^9 (DESIGN.md section 3);
//! - the 48 DSL tokens, spelled as in program text (`lambda`, `(`, `#1`, `+`, `7`, ...);
//! - magnitude tokens, per `model.spelling`: `decimal` spells 1234 as `n1 n2 n3 n4`; `base1000`
//!   spells it as `k1 k234` (base-1000 digits, most significant first).
//!
//! Text is tokenized by splitting on whitespace and looking each piece up, then `</s>` is
//! appended. That is exactly what the `tokenizers` pipeline of this file does (WordLevel model,
//! WhitespaceSplit pre-tokenizer, `$A </s>` template), and it also works unchanged for a
//! pretrained checkpoint's tokenizer extended with these tokens, where every piece is one added
//! token. Both sides use the lookup, so they produce the same ids (tested against Python).

use crate::dsl::token::{Dialect, Prim, Token};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;

pub const PAD: &str = "<pad>";
pub const EOS: &str = "</s>";
pub const UNK: &str = "<unk>";
pub const POS: &str = "<+>";
pub const NEG: &str = "<->";
pub const NAN: &str = "<nan>";

/// Integers with a larger magnitude are encoded as `<nan>`.
pub const NAN_ABOVE: u64 = 1_000_000_000;

/// How the magnitude of an integer is spelled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spelling {
    #[default]
    Decimal,
    Base1000,
}

/// The token strings of seqsynth's vocabulary, in id order.
///
/// The dialect's DSL tokens come after the special ones; the paper dialect's are a prefix of the
/// loops dialect's, but the number tokens follow them, so the two vocabularies differ in ids.
pub fn vocabulary(spelling: Spelling, dialect: Dialect) -> Vec<String> {
    let mut v: Vec<String> = [PAD, EOS, UNK, POS, NEG, NAN]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.extend(
        Token::dialect_vocabulary(dialect)
            .iter()
            .map(|t| t.to_string()),
    );
    match spelling {
        Spelling::Decimal => v.extend((0..10).map(|d| format!("n{d}"))),
        Spelling::Base1000 => v.extend((0..1000).map(|d| format!("k{d}"))),
    }
    v
}

/// The text of a sequence's tokens (`<+> n1 <-> n2 n3 ...`), from decimal terms.
pub fn sequence_text(terms: &[&str], spelling: Spelling) -> Result<String> {
    let mut out = String::new();
    for t in terms {
        let (neg, mag) = match t.strip_prefix('-') {
            Some(m) => (true, m),
            None => (false, *t),
        };
        if mag.is_empty() || !mag.bytes().all(|b| b.is_ascii_digit()) {
            bail!("term {t:?} is not an integer");
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(if neg { NEG } else { POS });
        let mag = mag.trim_start_matches('0');
        let value: Option<u64> = if mag.len() > 10 {
            None
        } else {
            mag.parse().ok().or(Some(0))
        };
        match value {
            Some(v) if v <= NAN_ABOVE => spell(v, spelling, &mut out),
            _ => {
                out.push(' ');
                out.push_str(NAN);
            }
        }
    }
    Ok(out)
}

fn spell(v: u64, spelling: Spelling, out: &mut String) {
    match spelling {
        Spelling::Decimal => {
            for d in v.to_string().bytes() {
                out.push_str(" n");
                out.push(d as char);
            }
        }
        Spelling::Base1000 => {
            let mut chunks = vec![];
            let mut x = v;
            loop {
                chunks.push(x % 1000);
                x /= 1000;
                if x == 0 {
                    break;
                }
            }
            for c in chunks.iter().rev() {
                out.push_str(&format!(" k{c}"));
            }
        }
    }
}

/// The JSON of a `tokenizer.json` for seqsynth's own vocabulary.
fn tokenizer_json(spelling: Spelling, dialect: Dialect) -> serde_json::Value {
    let vocab = vocabulary(spelling, dialect);
    let map: serde_json::Map<String, serde_json::Value> = vocab
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), json!(i)))
        .collect();
    let added: Vec<serde_json::Value> = [PAD, EOS, UNK]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"id": i, "content": t, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": EOS, "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": EOS, "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": EOS, "type_id": 1}}],
            "special_tokens": {EOS: {"id": EOS, "ids": [1], "tokens": [EOS]}}
        },
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": map, "unk_token": UNK}
    })
}

/// Writes seqsynth's `tokenizer.json` (built and saved through the `tokenizers` crate).
pub fn write_tokenizer(path: &Path, spelling: Spelling, dialect: Dialect) -> Result<()> {
    let text = serde_json::to_string(&tokenizer_json(spelling, dialect))?;
    let tok = tokenizers::Tokenizer::from_bytes(text.as_bytes())
        .map_err(|e| anyhow!("building the tokenizer: {e}"))?;
    tok.save(path, true)
        .map_err(|e| anyhow!("writing {}: {e}", path.display()))
}

/// A loaded vocabulary: text ↔ ids by whitespace split and lookup.
pub struct Vocab {
    tok: tokenizers::Tokenizer,
    ids: HashMap<String, u32>,
    pub pad: u32,
    pub eos: u32,
    pub spelling: Spelling,
    /// The dialect whose tokens the vocabulary has.
    pub dialect: Dialect,
    /// `dsl_ids[token.index()]` = the id of each DSL token (`u32::MAX` for a token outside the
    /// dialect, which no search of the dialect emits).
    pub dsl_ids: Vec<u32>,
}

impl Vocab {
    /// Loads a `tokenizer.json` and checks it holds every seqsynth token.
    pub fn load(path: &Path) -> Result<Vocab> {
        let tok = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| anyhow!("loading {}: {e}", path.display()))?;
        let ids: HashMap<String, u32> = tok.get_vocab(true).into_iter().collect();
        let spelling = if ids.contains_key("k999") {
            Spelling::Base1000
        } else {
            Spelling::Decimal
        };
        // a vocabulary with the loops dialect's tokens is for that dialect
        let dialect = if ids.contains_key(Prim::Loop2.symbol()) {
            Dialect::Loops
        } else {
            Dialect::Paper
        };
        let missing: Vec<String> = vocabulary(spelling, dialect)
            .into_iter()
            .filter(|t| t != UNK && !ids.contains_key(t))
            .collect();
        if !missing.is_empty() {
            bail!(
                "{}: the vocabulary lacks seqsynth tokens: {}",
                path.display(),
                missing.join(" ")
            );
        }
        let dsl_ids = Token::vocabulary()
            .iter()
            .map(|t| {
                if t.in_dialect(dialect) {
                    ids[&t.to_string()]
                } else {
                    u32::MAX
                }
            })
            .collect();
        Ok(Vocab {
            pad: ids[PAD],
            eos: ids[EOS],
            tok,
            ids,
            spelling,
            dialect,
            dsl_ids,
        })
    }

    pub fn len(&self) -> usize {
        self.tok.get_vocab_size(true)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ids of whitespace-separated token text, plus `</s>`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        for piece in text.split_whitespace() {
            out.push(
                *self
                    .ids
                    .get(piece)
                    .with_context(|| format!("token {piece:?} is not in the vocabulary"))?,
            );
        }
        out.push(self.eos);
        Ok(out)
    }

    /// Ids of a sequence's first terms.
    pub fn encode_terms(&self, terms: &[&str]) -> Result<Vec<u32>> {
        self.encode(&sequence_text(terms, self.spelling)?)
    }

    /// Token text of ids, stopping at `</s>` and skipping `<pad>`.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut out = Vec::new();
        for &i in ids {
            if i == self.eos {
                break;
            }
            if i == self.pad {
                continue;
            }
            out.push(self.tok.id_to_token(i).unwrap_or_else(|| UNK.to_string()));
        }
        out.join(" ")
    }

    /// The full `tokenizers` pipeline on `text` (for cross-checks).
    pub fn encode_with_pipeline(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .tok
            .encode(text, true)
            .map_err(|e| anyhow!("encoding: {e}"))?;
        Ok(enc.get_ids().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelling_of_sequences() {
        assert_eq!(
            sequence_text(
                &[
                    "0",
                    "-12",
                    "1000000000",
                    "1000000001",
                    "-99999999999999999999"
                ],
                Spelling::Decimal
            )
            .unwrap(),
            "<+> n0 <-> n1 n2 <+> n1 n0 n0 n0 n0 n0 n0 n0 n0 n0 <+> <nan> <-> <nan>"
        );
        assert_eq!(
            sequence_text(&["1234567", "1000005", "7", "0"], Spelling::Base1000).unwrap(),
            "<+> k1 k234 k567 <+> k1 k0 k5 <+> k7 <+> k0"
        );
        assert!(sequence_text(&["1.5"], Spelling::Decimal).is_err());
    }

    #[test]
    fn saved_tokenizer_roundtrips_and_pipeline_agrees() {
        for (spelling, dialect) in [
            (Spelling::Decimal, Dialect::Paper),
            (Spelling::Base1000, Dialect::Paper),
            (Spelling::Decimal, Dialect::Loops),
            (Spelling::Base1000, Dialect::Loops),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("tokenizer.json");
            write_tokenizer(&path, spelling, dialect).unwrap();
            let v = Vocab::load(&path).unwrap();
            assert_eq!(v.spelling, spelling);
            assert_eq!(v.dialect, dialect);
            assert_eq!(v.len(), vocabulary(spelling, dialect).len());
            assert_eq!((v.pad, v.eos), (0, 1));
            let prog = "lambda [ #0 ] ( map ( lambda [ #1 ] ( * ( / ( * ( #1 8 ) 9 ) #1 ) ) #0 ) )";
            let ids = v.encode(prog).unwrap();
            assert_eq!(ids, v.encode_with_pipeline(prog).unwrap());
            assert_eq!(v.decode(&ids), prog);
            let seq = v
                .encode_terms(&["1", "-4", "123456", "99999999999"])
                .unwrap();
            let text = sequence_text(&["1", "-4", "123456", "99999999999"], spelling).unwrap();
            assert_eq!(seq, v.encode_with_pipeline(&text).unwrap());
            assert_eq!(*seq.last().unwrap(), v.eos);
            assert!(v.encode("frobnicate").is_err());
        }
    }
}
