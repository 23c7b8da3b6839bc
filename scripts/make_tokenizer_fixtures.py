"""Token-id goldens for the Swift CLIP tokenizer, from transformers' CLIPTokenizer.

Mirrors how the reference harness loads Karlo's tokenizer: a tokenizer/ folder (vocab.json, merges.txt built
from open_clip's bpe_simple_vocab_16e6.txt.gz, pad_token "!") loaded with transformers 5.23's CLIPTokenizer
(the `tokenizers`-backed class: NFC, whitespace runs → " ", lowercase, CLIP's split regex, byte-level BPE;
no ftfy and no html.unescape). Writes Tests/TokenizerTests/Fixtures/corpus.json: for each prompt the 77
padded ids, the attention mask and whether it was truncated (as diffusers' pipeline detects it).

    .venv-ref/bin/python scripts/make_tokenizer_fixtures.py
"""
import itertools
import json
import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unclip_tokenizer import write_tokenizer_folder  # noqa: E402
from transformers import CLIPTokenizer  # noqa: E402

HAND = [
    "", " ", "a", "A", "a red circle on a blue background", "A RED CIRCLE ON A BLUE BACKGROUND",
    "a small yellow star in the top left corner of a green image", "two squares, one red and one white, on black",
    "horse", "an astronaut riding a horse on the moon, digital art", "a photo of a cat.",
    "Hello, world!", "What?!?!", "wait...", "...", "!!!", "??", "a -- b", "(parenthesised) [bracketed] {braced}",
    "semi;colon:colon", "email me at someone@example.com", "https://example.com/path?q=1&r=2#frag",
    "C:\\Users\\path\\file.txt", "#hashtag @mention $100 50% 3*4=12", "under_score and hyphen-ated words",
    "don't", "DON'T", "it's", "they're", "we've", "I'm", "you'll", "he'd", "rock'n'roll", "'s", "o'clock",
    "the cat's toy's owner's house", "isn't aren't wasn't", "let’s go", "it’s curly",
    "1", "12", "123456", "3.14159", "1,000,000", "2024-01-31", "31/12/1999", "12:30pm", "10:45:00",
    "4k uhd 8k", "v1.2.3", "0x1F", "1e-5", "-42", "+7", "½ ¾ ²", "٣ ٤ ٥", "一二三", "Ⅷ",
    "café", "naïve résumé", "Crème brûlée", "São Paulo", "Zürich", "Ærøskøbing", "piñata", "façade",
    "ÉCOLE", "İstanbul", "straße", "ΣΊΣΥΦΟΣ", "Дом на холме", "مرحبا بالعالم", "שלום", "नमस्ते", "สวัสดี",
    "cafe\u0301 (decomposed)", "e\u0301\u0301", "\u00c5ngstr\u00f6m", "A\u030angstro\u0308m",
    "猫", "一只红色的猫", "東京タワーの夜景", "한국어 문장", "日本語とEnglishの混在", "ｆｕｌｌｗｉｄｔｈ", "ﾊﾝｶｸ",
    "😀", "🐈 cat", "a cat 🐈‍⬛ and a dog 🐕", "👍🏽", "🇯🇵 flag", "❤️", "✨sparkles✨", "☃ ☂ ★",
    "&amp; &lt;b&gt; &quot;quoted&quot; &#39;x&#39;", "<b>bold</b>", "<|startoftext|>", "<|endoftext|>",
    "a <|endoftext|> in the middle", "tab\tseparated\twords", "new\nline\nseparated", "windows\r\nline",
    "   leading spaces", "trailing spaces   ", "multiple     internal   spaces", "\t\n mixed \t whitespace \n",
    "non\u00a0breaking\u00a0space", "ideographic\u3000space", "zero\u200bwidth", "soft\u00adhyphen",
    "control\u0007char", "em—dash – en dash", "“smart quotes” ‘single’", "«guillemets»", "…ellipsis",
    "™ © ®", "€100 £50 ¥1000", "°C and °F", "µm mm cm", "x² + y² = z²", "α β γ δ", "∑ ∫ √ ∞", "→ ← ↑ ↓",
    "🤖" * 40, "word " * 100, "a" * 300, "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
    "the the the the", "a.b.c.d", "e.g. i.e. etc.", "U.S.A.", "Mr. Smith's 2nd car", "R2-D2 and C-3PO",
]

COLORS = ["red", "green", "blue", "yellow", "white", "black", "orange", "purple", "pink", "cyan", "magenta", "gray"]
SHAPES = ["circle", "square", "triangle", "star", "hexagon", "heart"]
PLACES = ["top left corner", "bottom right", "center", "middle", "left side", "upper half"]
STYLES = ["oil painting", "watercolor", "pixel art", "3d render", "photograph", "pencil sketch", "digital art, trending on artstation"]
SUBJECTS = ["a fox", "an old lighthouse", "a bowl of ramen", "a robot", "a castle", "two dogs playing", "a city at night",
            "a mountain lake", "a bicycle", "a teapot", "a dragon", "a sunflower field"]


def corpus():
    rng = random.Random(0)
    out = list(HAND)
    for c1, s, c2 in itertools.islice(itertools.product(COLORS, SHAPES, COLORS), 0, None, 7):
        if c1 != c2:
            out.append(f"a {c1} {s} on a {c2} background")
    for subj, style in itertools.product(SUBJECTS, STYLES):
        if rng.random() < 0.5:
            out.append(f"{subj}, {style}")
    for _ in range(40):
        n = rng.randint(2, 4)
        parts = [f"{rng.choice(['a', 'the', 'one', 'two'])} {rng.choice(COLORS)} {rng.choice(SHAPES)}" for _ in range(n)]
        out.append(" and ".join(parts) + f" in the {rng.choice(PLACES)}")
    for _ in range(20):  # long prompts near and past the 77-token limit
        k = rng.randint(60, 140)
        out.append(" ".join(rng.choice(COLORS + SHAPES + ["of", "with", "and", "a", "!", "1999", "café", "🐈"]) for _ in range(k)))
    seen, uniq = set(), []
    for p in out:
        if p not in seen:
            seen.add(p)
            uniq.append(p)
    return uniq


def main():
    prompts = corpus()
    with tempfile.TemporaryDirectory() as d:
        write_tokenizer_folder(d)
        tok = CLIPTokenizer.from_pretrained(d)
    assert tok.pad_token_id == 0, tok.pad_token_id
    rows = []
    for p in prompts:
        enc = tok(p, padding="max_length", max_length=77, truncation=True)
        full = tok(p, padding="longest").input_ids
        rows.append({"text": p, "ids": enc.input_ids, "mask": enc.attention_mask, "truncated": len(full) > 77})
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "TokenizerTests", "Fixtures", "corpus.json")
    doc = {"generator": "scripts/make_tokenizer_fixtures.py", "tokenizer": type(tok).__name__,
           "transformers": __import__("transformers").__version__, "pad_token_id": tok.pad_token_id, "prompts": rows}
    with open(out + ".tmp", "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=0, sort_keys=True)
        f.write("\n")
    os.replace(out + ".tmp", out)
    print(f"wrote {len(rows)} prompts ({sum(r['truncated'] for r in rows)} truncated) to {os.path.relpath(out)}")


if __name__ == "__main__":
    main()
