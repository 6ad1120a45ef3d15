(async () => 42)()

// shape: arrow_or_function
