async () => { const x = 1; }
