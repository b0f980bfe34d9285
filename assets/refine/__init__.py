"""refine: dynamic checklists, multi-model critique and revision, CoT reconstruction, the SFT dataset."""
