"""Running a trained model: the predictor, detections and their COCO results form."""
