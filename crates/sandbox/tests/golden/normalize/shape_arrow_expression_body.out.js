(async ()                  => (await codemode.count())          )()

// shape: arrow_or_function
