"""Export a run's model to ONNX (fp32 and dynamic int8), check parity against PyTorch, write a
model card, and load exports for serving (docs/ARCHITECTURE.md, "Export and serving").

Layout of one export (`WS/exports/<run>-<time>/`):
    README.md        model card
    export.json      what was exported: run, formats, parity and speed figures
    onnx/            fp32 ONNX, self-contained: model.onnx, tokenizer files, configs, manifest
    onnx-int8/       the same graph with int8 weights (only when int8 was asked for)
and a zip of the folder beside it (`<run>-<time>.zip`) for download.
"""
