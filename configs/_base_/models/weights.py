"""Where the pre-trained weights of every recipe come from, by name: the official ConvNeXt releases and the
``work_dirs/`` outputs of the preceding step of a multi-step recipe. A leaf names one, e.g.
``init_cfg=dict(checkpoint={{_base_.weights.base_22k}})``; a local file in any supported format replaces it with
``--cfg-options model.backbone.init_cfg.checkpoint=PATH``."""

fb = 'https://dl.fbaipublicfiles.com/convnext'
v1_sizes = ('tiny', 'small', 'base', 'large', 'xlarge')
v2_sizes = ('atto', 'femto', 'pico', 'nano', 'tiny', 'base', 'large', 'huge')
weights = {
    # ConvNeXt: ImageNet-1K (final and EMA weights) and ImageNet-22K 224 classification checkpoints.
    **{f'{size}_1k': f'{fb}/convnext_{size}_1k_224.pth' for size in v1_sizes},
    **{f'{size}_1k_ema': f'{fb}/convnext_{size}_1k_224_ema.pth' for size in v1_sizes},
    **{f'{size}_22k': f'{fb}/convnext_{size}_22k_224.pth' for size in v1_sizes},
    # ConvNeXt V2: FCMAE pre-training only, and ImageNet-1K fine-tuned (EMA) weights.
    **{f'v2_{size}_fcmae': f'{fb}/convnextv2/pt_only/convnextv2_{size}_1k_224_fcmae.pt' for size in v2_sizes},
    **{f'v2_{size}_1k_ema': f'{fb}/convnextv2/im1k/convnextv2_{size}_1k_224_ema.pt' for size in v2_sizes},
    'v2_huge_22k_512_ema': f'{fb}/convnextv2/im22k/convnextv2_huge_22k_512_ema.pt',
    # Outputs of our own preceding steps: FCMAE pre-training (tools/model_converters/fcmae_to_backbone.py writes
    # backbone.pth) and ImageNet-22K intermediate fine-tuning (the official 21841-class V2 weights are not released).
    **{
        f'v2_{size}_fcmae_{epochs}': f'work_dirs/fcmae_convnextv2_{size[0]}_{epochs}_in1k/backbone.pth'
        for size in v2_sizes
        for epochs in ('800e', '1600e')
    },
    **{f'v2_{size}_in22k': f'work_dirs/convnextv2_{size[0]}_fcmae-in1k-ft_90e_in22k/epoch_90.pth' for size in v2_sizes},
}
