"""Plain nn.Modules: the Keras layer vocabulary (layers.py 2-D/dense, sequence.py, recurrent.py), the one
Sequential builder (sequential.py: `litzoo.models.sequential.sequential`), pretrained bases (pretrained.py)
and the config resolvers that derive output layers (resolvers.py, imported without torch)."""
