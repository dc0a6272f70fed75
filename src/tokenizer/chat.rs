//! Chat prompts. A GGUF file carries its chat template as Jinja (`tokenizer.chat_template`);
//! rather than a Jinja engine, the template is recognized by its markers and rendered by a fixed
//! Rust function, with the few values that differ between versions (default system message,
//! knowledge date, system separator) read from the template's own string literals.
//!
//! Supported, and checked against Jinja2 renderings of the real templates
//! (tests/data/tokenizer/chat.json):
//! - ChatML: SmolLM2, Qwen2 and Qwen2.5 (with their default system messages).
//! - Llama 3 headers: 3.0 (no system block of its own) and 3.1 / 3.2 / 3.3, whose system block
//!   always carries "Cutting Knowledge Date" and "Today Date" (the template's fixed date, or for
//!   templates that call `strftime_now` the date given to [`ChatTemplate::with_date`]).
//! - Gemma turns: Gemma 3 (a system message is folded into the first user turn) and Gemma 1/2
//!   (which reject system messages).
//!
//! Tool calls, images and reasoning blocks are not rendered.

use super::{TokenId, Tokenizer};
use crate::io::Gguf;
use crate::io::gguf::Metadata;
use crate::{Error, Result};

/// One turn of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text of the turn.
    pub content: String,
}

impl Message {
    /// A message with `role` and `content`.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Message { role: role.into(), content: content.into() }
    }
}

/// The system block of Llama 3.1 and later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatedSystem {
    /// "December 2023".
    pub knowledge: String,
    /// The date printed as "Today Date".
    pub date: String,
    /// The template asks for today's date (`strftime_now`), so [`ChatTemplate::with_date`]
    /// applies.
    pub follows_today: bool,
}

/// How a Gemma template treats a system message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GemmaSystem {
    /// Gemma 3: the system text and this separator start the first user turn.
    Fold {
        /// Text between the system message and the first user message (`"\n\n"`).
        separator: String,
    },
    /// Gemma 1 and 2: a system message is an error.
    Reject,
}

/// A recognized chat template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatTemplate {
    /// `<|im_start|>{role}\n{content}<|im_end|>\n` per message; the generation prompt is
    /// `<|im_start|>assistant\n`.
    ChatMl {
        /// System message the template inserts when the conversation starts without one.
        default_system: Option<String>,
    },
    /// `<|start_header_id|>{role}<|end_header_id|>\n\n{content|trim}<|eot_id|>` per message,
    /// after BOS.
    Llama3 {
        /// The system block of Llama 3.1 and later (`None`: Llama 3.0).
        dated: Option<DatedSystem>,
    },
    /// `<start_of_turn>{user|model}\n{content|trim}<end_of_turn>\n` per message, after BOS; roles
    /// must alternate starting with the user.
    Gemma {
        /// What a system message becomes.
        system: GemmaSystem,
    },
}

/// Markers of chat formats this module does not render, to name what a template is.
const OTHER_FORMATS: &[(&str, &str)] = &[
    ("[INST]", "Llama 2 / Mistral `[INST]`"),
    ("<|START_OF_TURN_TOKEN|>", "Command R"),
    ("<|start_of_role|>", "Granite"),
    ("<｜User｜>", "DeepSeek"),
    ("<|user|>", "Zephyr / Phi-3 `<|user|>`"),
    ("<|turn>", "Gemma 4"),
    ("<|start|>", "gpt-oss harmony"),
    ("### Instruction", "Alpaca"),
    ("USER:", "Vicuna"),
];

/// The Jinja string literal at the start of `s` (after white space), unescaped, and the bytes
/// it spans.
fn literal_at(s: &str) -> Option<(String, usize)> {
    let skip = s.len() - s.trim_start().len();
    let mut chars = s[skip..].char_indices();
    let quote = chars.next().map(|c| c.1).filter(|&q| q == '\'' || q == '"')?;
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                other => out.push(other),
            },
            c if c == quote => return Some((out, skip + i + 1)),
            c => out.push(c),
        }
    }
    None
}

/// Every string literal inside the template's `{{ }}` and `{% %}` blocks, unescaped.
fn literals(jinja: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = jinja;
    loop {
        let open = [("{{", "}}"), ("{%", "%}")].iter().filter_map(|&(o, c)| rest.find(o).map(|i| (i, c))).min();
        let Some((at, close)) = open else { return out };
        rest = &rest[at + 2..];
        // Inside the block: literals until the closing marker.
        loop {
            let next = rest.find(['\'', '"']);
            let end = rest.find(close);
            match (next, end) {
                (Some(q), Some(e)) if q < e => match literal_at(&rest[q..]) {
                    Some((l, len)) => {
                        out.push(l);
                        rest = &rest[q + len..];
                    }
                    None => return out,
                },
                (_, Some(e)) => {
                    rest = &rest[e + 2..];
                    break;
                }
                (_, None) => return out,
            }
        }
    }
}

/// The first string literal right after an occurrence of `key` in the template
/// (`set date_string = "26 Jul 2024"`, not `set date_string = strftime_now(...)`).
fn literal_after(jinja: &str, key: &str) -> Option<String> {
    jinja.match_indices(key).find_map(|(at, _)| literal_at(&jinja[at + key.len()..]).map(|l| l.0))
}

/// Jinja's `trim` (Python's `str.strip()`, whose white space adds the four separators
/// U+001C..U+001F to Unicode's).
fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
}

impl ChatTemplate {
    /// Recognizes the template of a GGUF file (`tokenizer.chat_template`).
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        Self::from_metadata(g.meta())
    }

    /// Recognizes the template in model metadata (`tokenizer.chat_template`).
    pub fn from_metadata(g: &Metadata) -> Result<Self> {
        if !g.contains_key("tokenizer.chat_template") {
            return Err(Error::Unsupported(format!(
                "{} has no chat template (`tokenizer.chat_template`): a base model, prompt it without a chat",
                g.path().display()
            )));
        }
        Self::recognize(g.get_str("tokenizer.chat_template")?)
    }

    /// Recognizes a Jinja template's text.
    pub fn recognize(jinja: &str) -> Result<Self> {
        let has = |s: &str| jinja.contains(s);
        let unsupported = |what: &str| {
            Err(Error::Unsupported(format!(
                "chat template: {what}; supported are ChatML (`<|im_start|>`), Llama 3 (`<|start_header_id|>`) \
                 and Gemma (`<start_of_turn>`)"
            )))
        };
        if has("<|im_start|>") && has("<|im_end|>") {
            if has("<think>") {
                return unsupported("ChatML with `<think>` reasoning blocks (Qwen3 style)");
            }
            if has("<|im_sep|>") {
                return unsupported("ChatML with `<|im_sep|>` (Phi-4 style)");
            }
            // SmolLM2: `{{ '<|im_start|>system\nYou are ...<|im_end|>\n' }}` when the first
            // message is not a system one; Qwen2.5 likewise.
            const HEAD: &str = "<|im_start|>system\n";
            let default_system = literals(jinja)
                .into_iter()
                .find_map(|l| l.strip_prefix(HEAD).and_then(|s| s.split_once("<|im_end|>")).map(|s| s.0.to_string()));
            return Ok(ChatTemplate::ChatMl { default_system });
        }
        if has("<|start_header_id|>") && has("<|end_header_id|>") && has("<|eot_id|>") {
            let dated = if has("Cutting Knowledge Date:") {
                let knowledge = literals(jinja).into_iter().find_map(|l| {
                    l.strip_prefix("Cutting Knowledge Date: ").map(|k| k.trim_end_matches('\n').to_string())
                });
                let date = literal_after(jinja, "set date_string =");
                match (knowledge, date) {
                    (Some(knowledge), Some(date)) => {
                        Some(DatedSystem { knowledge, date, follows_today: has("strftime_now") })
                    }
                    _ => {
                        return unsupported("a Llama 3 template whose knowledge date or default date is not a literal");
                    }
                }
            } else {
                None
            };
            return Ok(ChatTemplate::Llama3 { dated });
        }
        if has("<start_of_turn>") && has("<end_of_turn>") {
            let system = if has("first_user_prefix") {
                match literal_after(jinja, "set first_user_prefix = messages[0]['content'] +") {
                    Some(separator) => GemmaSystem::Fold { separator },
                    None => return unsupported("a Gemma template whose system separator is not a literal"),
                }
            } else {
                GemmaSystem::Reject
            };
            return Ok(ChatTemplate::Gemma { system });
        }
        match OTHER_FORMATS.iter().find(|(marker, _)| has(marker)) {
            Some((_, name)) => unsupported(&format!("found the {name} format")),
            None => {
                let head: String = jinja.chars().take(60).collect();
                unsupported(&format!("found an unrecognized template beginning `{}`", head.escape_debug()))
            }
        }
    }

    /// Sets "Today Date" for templates that print today's date (Llama 3.2: `strftime_now`, as
    /// `26 Jul 2024`); others keep their fixed date, as Jinja would.
    pub fn with_date(mut self, today: &str) -> Self {
        if let ChatTemplate::Llama3 { dated: Some(d) } = &mut self {
            if d.follows_today {
                d.date = today.to_string();
            }
        }
        self
    }

    /// Whether the template starts with the BOS token (which [`ChatTemplate::encode`] adds as a
    /// token rather than as text).
    pub fn wants_bos(&self) -> bool {
        !matches!(self, ChatTemplate::ChatMl { .. })
    }

    /// The prompt text for `messages`, without the BOS token (special tokens written out, to be
    /// encoded with [`Tokenizer::encode`]); `add_generation_prompt` opens the assistant's turn.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let mut s = String::new();
        match self {
            ChatTemplate::ChatMl { default_system } => {
                let turn = |s: &mut String, role: &str, content: &str| {
                    s.push_str(&format!("<|im_start|>{role}\n{content}<|im_end|>\n"));
                };
                if let Some(sys) =
                    default_system.as_deref().filter(|_| messages.first().is_none_or(|m| m.role != "system"))
                {
                    turn(&mut s, "system", sys);
                }
                for m in messages {
                    turn(&mut s, &m.role, &m.content);
                }
                if add_generation_prompt {
                    s.push_str("<|im_start|>assistant\n");
                }
            }
            ChatTemplate::Llama3 { dated } => {
                let header = |s: &mut String, role: &str| {
                    s.push_str(&format!("<|start_header_id|>{role}<|end_header_id|>\n\n"));
                };
                let mut rest = messages;
                if let Some(d) = dated {
                    let system = match messages.first() {
                        Some(m) if m.role == "system" => {
                            rest = &messages[1..];
                            trim(&m.content)
                        }
                        _ => "",
                    };
                    header(&mut s, "system");
                    s.push_str(&format!(
                        "Cutting Knowledge Date: {}\nToday Date: {}\n\n{system}<|eot_id|>",
                        d.knowledge, d.date
                    ));
                }
                for m in rest {
                    header(&mut s, &m.role);
                    s.push_str(trim(&m.content));
                    s.push_str("<|eot_id|>");
                }
                if add_generation_prompt {
                    header(&mut s, "assistant");
                }
            }
            ChatTemplate::Gemma { system } => {
                let (prefix, turns) = match (messages.first(), system) {
                    (Some(m), GemmaSystem::Fold { separator }) if m.role == "system" => {
                        (format!("{}{separator}", m.content), &messages[1..])
                    }
                    (Some(m), GemmaSystem::Reject) if m.role == "system" => {
                        return Err(Error::InvalidArgument("this Gemma chat template has no system role".into()));
                    }
                    _ => (String::new(), messages),
                };
                for (i, m) in turns.iter().enumerate() {
                    if (m.role == "user") != (i % 2 == 0) {
                        return Err(Error::InvalidArgument(format!(
                            "Gemma chat: roles must alternate user/assistant/user/... (message {} is `{}`)",
                            i + 1,
                            m.role
                        )));
                    }
                    let role = if m.role == "assistant" { "model" } else { &m.role };
                    let first = if i == 0 { prefix.as_str() } else { "" };
                    s.push_str(&format!("<start_of_turn>{role}\n{first}{}<end_of_turn>\n", trim(&m.content)));
                }
                if add_generation_prompt {
                    s.push_str("<start_of_turn>model\n");
                }
            }
        }
        Ok(s)
    }

    /// The token ids of the prompt: BOS where the tokenizer or the template wants it, then the
    /// rendered text with its special tokens (EOS last if the tokenizer adds one).
    pub fn encode(&self, tok: &Tokenizer, messages: &[Message], add_generation_prompt: bool) -> Result<Vec<TokenId>> {
        let text = self.render(messages, add_generation_prompt)?;
        let mut ids = Vec::new();
        if self.wants_bos() && !tok.add_bos() {
            ids.extend(tok.bos());
        }
        ids.extend(tok.tokenize(&text, true, true));
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SmolLM2-135M-Instruct's `tokenizer.chat_template`, verbatim.
    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}\
{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}\
{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}\
{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn smollm2_template_renders_like_jinja() {
        let t = ChatTemplate::recognize(SMOLLM2).unwrap();
        let got = t.render(&[Message::new("user", "Hi")], true).unwrap();
        assert_eq!(
            got,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
             <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let own = t.render(&[Message::new("system", "Be brief."), Message::new("user", "Hi")], false).unwrap();
        assert_eq!(own, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
    }

    #[test]
    fn literals_are_unescaped() {
        let l = literals("a {{ 'x\\n' + \"y'z\" }} b {% set d = \"26 Jul\" %} 'not' {{ '\\'q' }}");
        assert_eq!(l, ["x\n", "y'z", "26 Jul", "'q"]);
        let llama32 = "{% set date_string = strftime_now(\"%d %b %Y\") %}{% set date_string = \"26 Jul 2024\" %}";
        assert_eq!(literal_after(llama32, "set date_string ="), Some("26 Jul 2024".into()));
    }

    #[test]
    fn other_templates_are_named_in_the_error() {
        let e = ChatTemplate::recognize("{{ bos_token }}[INST] {{ m }} [/INST]").unwrap_err().to_string();
        assert!(e.contains("Llama 2 / Mistral"), "{e}");
        let e = ChatTemplate::recognize("{{ messages }}").unwrap_err().to_string();
        assert!(e.contains("unrecognized template beginning `{{ messages }}`"), "{e}");
        let e = ChatTemplate::recognize("<|im_start|><think><|im_end|>").unwrap_err().to_string();
        assert!(e.contains("Qwen3"), "{e}");
        let plain = ChatTemplate::recognize("<|im_start|>{{ role }}<|im_end|>").unwrap();
        assert_eq!(plain, ChatTemplate::ChatMl { default_system: None });
    }

    #[test]
    fn gemma_roles_must_alternate() {
        let t = ChatTemplate::Gemma { system: GemmaSystem::Fold { separator: "\n\n".into() } };
        let e = t.render(&[Message::new("user", "a"), Message::new("user", "b")], true).unwrap_err();
        assert!(e.to_string().contains("message 2 is `user`"), "{e}");
        let t = ChatTemplate::Gemma { system: GemmaSystem::Reject };
        assert!(t.render(&[Message::new("system", "s"), Message::new("user", "u")], true).is_err());
    }
}
