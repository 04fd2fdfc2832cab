"""Model-in-the-loop labelling: a trained model proposes annotations, ranks what to label next, prompts from a box."""
