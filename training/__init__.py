"""Training job: fits BiLSTM models on labelled data and exports them as bundles under model/."""
