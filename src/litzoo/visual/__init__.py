"""What a convnet learned (DLwP 5.4): activations, filter patterns, Grad-CAM, confusion, mistakes, embeddings.

`layers` names and hooks the layers, `inputs` reads the data module, `compute` does the maths, `draw` and
`figures` make the pictures, `report` writes them (PNG + TensorBoard) for `litzoo-visualize` and the callbacks.
"""
