//! Chat prompts. GGUF files carry a Jinja template (`tokenizer.chat_template`); rather than a
//! Jinja engine, the template is recognized and rendered by a fixed Rust function. ChatML (used by
//! SmolLM2, Qwen and others) is the one supported so far.

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

/// A recognized chat template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatTemplate {
    /// `<|im_start|>{role}\n{content}<|im_end|>\n` per message; the generation prompt is
    /// `<|im_start|>assistant\n`.
    ChatMl {
        /// System message the template inserts when the conversation starts without one.
        default_system: Option<String>,
    },
}

impl ChatTemplate {
    /// Recognizes the template of a GGUF file (`tokenizer.chat_template`).
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        Self::from_metadata(g.meta())
    }

    /// Recognizes the template in model metadata (`tokenizer.chat_template`).
    pub fn from_metadata(g: &Metadata) -> Result<Self> {
        Self::recognize(g.get_str("tokenizer.chat_template")?)
    }

    /// Recognizes a Jinja template's text.
    pub fn recognize(jinja: &str) -> Result<Self> {
        if !jinja.contains("<|im_start|>") || !jinja.contains("<|im_end|>") {
            return Err(Error::Unsupported("chat template other than ChatML".into()));
        }
        // SmolLM2's template: `{% if loop.first and messages[0]['role'] != 'system' %}
        // {{ '<|im_start|>system\nYou are ...<|im_end|>\n' }}{% endif %}`.
        const HEAD: &str = "<|im_start|>system\n";
        let default_system = jinja
            .find("!= 'system'")
            .and_then(|at| jinja[at..].find(HEAD).map(|h| at + h + HEAD.len()))
            .and_then(|start| jinja[start..].find("<|im_end|>").map(|end| jinja[start..start + end].to_string()));
        Ok(ChatTemplate::ChatMl { default_system })
    }

    /// The prompt text for `messages` (special tokens written out, to be encoded with
    /// [`super::Tokenizer::encode`]); `add_generation_prompt` opens the assistant's turn.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> String {
        let ChatTemplate::ChatMl { default_system } = self;
        let mut s = String::new();
        let turn = |s: &mut String, role: &str, content: &str| {
            s.push_str(&format!("<|im_start|>{role}\n{content}<|im_end|>\n"));
        };
        if let Some(sys) = default_system.as_deref().filter(|_| messages.first().is_none_or(|m| m.role != "system")) {
            turn(&mut s, "system", sys);
        }
        for m in messages {
            turn(&mut s, &m.role, &m.content);
        }
        if add_generation_prompt {
            s.push_str("<|im_start|>assistant\n");
        }
        s
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
        let got = t.render(&[Message::new("user", "Hi")], true);
        assert_eq!(
            got,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
             <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let own = t.render(&[Message::new("system", "Be brief."), Message::new("user", "Hi")], false);
        assert_eq!(own, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
    }

    #[test]
    fn other_templates_are_unsupported() {
        assert!(ChatTemplate::recognize("{{ bos_token }}[INST] {{ m }} [/INST]").is_err());
        let plain = ChatTemplate::recognize("<|im_start|>{{ role }}<|im_end|>").unwrap();
        assert_eq!(plain, ChatTemplate::ChatMl { default_system: None });
    }
}
