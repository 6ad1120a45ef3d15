              ((async () => 42)                                    )();

// shape: export_default
