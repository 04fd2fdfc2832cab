"""The Preview page: a model's live predictions on an image, a folder, a video, a stream or a camera."""
