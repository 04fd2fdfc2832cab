"""Video in, video out: frame sources (files, cameras, streams), the decode / infer / encode pipeline, and
frames extracted into an image folder. Pure Python over OpenCV; no torch (a model comes in from above)."""
