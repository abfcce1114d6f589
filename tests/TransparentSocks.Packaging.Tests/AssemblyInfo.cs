// Namespaces, nft tables and the booted container are shared kernel state: these tests run one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
