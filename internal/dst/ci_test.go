package dst

// ciSeeds is how many histories `make test` runs per backend (TestSeeds).
var ciSeeds = map[string]int{Bolt: 600, Redis: 60, Dynamo: 20}
