"""Everything that talks to the Hugging Face Hub: planning a publish, uploading, and mapping Hub errors."""
