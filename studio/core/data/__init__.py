"""The training data pipeline: class maps, preprocessing, decoding, augmentation, loaders."""
