"""What the province sends out and the demo uses: the fillable template generated from the
schema, and the sample inbox."""
