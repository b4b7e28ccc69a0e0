package dst

// ciSeeds is how many histories `make test` runs per backend (TestSeeds).
var ciSeeds = map[string]int{Bolt: 500, Redis: 50, Dynamo: 12}
