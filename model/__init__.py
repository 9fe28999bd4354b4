"""The bundle contract shared by training (writes bundles) and the service (reads them).

Only what both sides need lives here: the manifest schema and the pure text helpers that turn raw text
into model inputs and model outputs back into spans. The bundle folders themselves sit beside this file.
"""
