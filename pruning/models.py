"""Model zoo: the networks of the ADMM pruning papers, sized for their inputs.

Every model carries ``input_shape`` (C, H, W) and ``num_classes``.

| name        | input      | prunable weights | note |
|-------------|------------|------------------|------|
| lenet300    | 1x28x28    | 266,200          | LeNet-300-100 |
| lenet5      | 1x28x28    | 430,500          | Caffe LeNet 20-50-500-10 (the seeds' count) |
| digits_cnn  | 1x8x8      | 51,808           | small CNN with BatchNorm for sklearn digits |
| vgg16       | 3x32x32    | 14,715,584       | CIFAR VGG-16 with BatchNorm |
| resnet18    | 3x32x32    | 11,164,352       | CIFAR ResNet-18 (3x3 stem, no max-pool) |
| resnet8     | 1x28x28    | 19,464           | ResNet-8: 3x3 stem, 3 stages of one basic block (8/16/32), BN |
| alexnet     | 3x227x227  | 60,954,656       | CaffeNet shapes incl. groups=2 (cost modeling) |
| vit_tiny    | 1x28x28    | 18,272           | ViT: 7x7 patches (16 tokens), width 32, 4 heads, FFN 64, 2 blocks |

``vit_tiny`` is a transformer: it is priced from its trace (every GEMM, the attention's score and context
matmuls included), never from its module list, and its heads (``q_proj``/``k_proj``/``v_proj``/``out_proj``,
``num_heads``) and FFN neurons (``fc1``/``fc2``) are the coupled structures ``heads`` and ``neurons``.

LeNet-5 adds a ReLU after each pooled conv (Caffe's has none); the weight
count is unchanged.
"""

from __future__ import annotations

import torch
from torch import nn


class LeNet300(nn.Module):
    input_shape = (1, 28, 28)

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.num_classes = num_classes
        self.fc1 = nn.Linear(784, 300)
        self.fc2 = nn.Linear(300, 100)
        self.fc3 = nn.Linear(100, num_classes)

    def forward(self, x):
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


class LeNet5(nn.Module):
    input_shape = (1, 28, 28)

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.num_classes = num_classes
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(800, 500)
        self.fc2 = nn.Linear(500, num_classes)

    def forward(self, x):
        x = torch.relu(torch.max_pool2d(self.conv1(x), 2))
        x = torch.relu(torch.max_pool2d(self.conv2(x), 2))
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        return self.fc2(x)


class DigitsCNN(nn.Module):
    """Small CNN for 8x8 digits: two conv+BN+ReLU, one max-pool, two FC."""

    input_shape = (1, 8, 8)

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.num_classes = num_classes
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.fc1 = nn.Linear(64 * 4 * 4, 32)
        self.fc2 = nn.Linear(32, num_classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.max_pool2d(torch.relu(self.bn2(self.conv2(x))), 2)
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        return self.fc2(x)


_VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class VGG16(nn.Module):
    input_shape = (3, 32, 32)

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.num_classes = num_classes
        layers: list[nn.Module] = []
        c = 3
        for v in _VGG16:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1, bias=False), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, num_classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    input_shape = (3, 32, 32)

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.num_classes = num_classes
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        blocks, c = [], 64
        for c_out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks.append(nn.Sequential(BasicBlock(c, c_out, stride), BasicBlock(c_out, c_out, 1)))
            c = c_out
        self.layer1, self.layer2, self.layer3, self.layer4 = blocks
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


class ResNet8(nn.Module):
    """ResNet-8 for 28x28 greyscale images (Fashion-MNIST): a 3x3 stem and three stages of one ``BasicBlock``
    each (widths ``width``, 2x, 4x; strides 1, 2, 2: 28 -> 14 -> 7), global average pooling, one Linear: 8 weight layers on the
    main path (stem, 6 block convs, the Linear) and the two 1x1 projection shortcuts, every one prunable
    (2,364,864 MACs per image at width 8, LeNet-5's 2,293,000 and a bit).  He et al. 2016's CIFAR family (6n+2
    layers) at n=1, with projection shortcuts and a 1-channel input.  The default width, 8, is the one whose compare
    fits the 2-core machine in an hour: width 16 trains ~3x slower (docs/results.md "Beyond MNIST")."""

    input_shape = (1, 28, 28)

    def __init__(self, num_classes: int = 10, width: int = 8):
        super().__init__()
        self.num_classes = num_classes
        self.conv1 = nn.Conv2d(self.input_shape[0], width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = BasicBlock(width, width, 1)
        self.layer2 = BasicBlock(width, 2 * width, 2)
        self.layer3 = BasicBlock(2 * width, 4 * width, 2)
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class AlexNet(nn.Module):
    """CaffeNet layer shapes (227x227 input, grouped conv2/4/5); for cost modeling."""

    input_shape = (3, 227, 227)

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.num_classes = num_classes
        self.conv1 = nn.Conv2d(3, 96, 11, stride=4)
        self.conv2 = nn.Conv2d(96, 256, 5, padding=2, groups=2)
        self.conv3 = nn.Conv2d(256, 384, 3, padding=1)
        self.conv4 = nn.Conv2d(384, 384, 3, padding=1, groups=2)
        self.conv5 = nn.Conv2d(384, 256, 3, padding=1, groups=2)
        self.fc6 = nn.Linear(9216, 4096)
        self.fc7 = nn.Linear(4096, 4096)
        self.fc8 = nn.Linear(4096, num_classes)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 3, 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 3, 2)
        x = torch.relu(self.conv3(x))
        x = torch.relu(self.conv4(x))
        x = torch.max_pool2d(torch.relu(self.conv5(x)), 3, 2)
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc6(x))
        x = torch.relu(self.fc7(x))
        return self.fc8(x)


class Attention(nn.Module):
    """Multi-head self-attention from four Linears (so heads can be pruned across Q, K, V and the output)."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.q_proj, self.k_proj, self.v_proj = (nn.Linear(dim, dim) for _ in range(3))
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = (p(x).view(b, t, self.num_heads, d // self.num_heads).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        ctx = nn.functional.scaled_dot_product_attention(q, k, v)
        return self.out_proj(ctx.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    """Pre-norm transformer block: attention and a GELU MLP (``fc1``/``fc2``), each with a residual."""

    def __init__(self, dim: int, num_heads: int, hidden: int):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads)
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(nn.functional.gelu(self.fc1(self.norm2(x))))


class ViTTiny(nn.Module):
    """A ViT for 28x28 images: 7x7 patches -> 16 tokens, mean-pooled; trains on MNIST on a CPU."""

    input_shape = (1, 28, 28)

    def __init__(self, num_classes: int = 10, dim: int = 32, num_heads: int = 4, hidden: int = 64,
                 depth: int = 2, patch: int = 7):
        super().__init__()
        self.num_classes = num_classes
        tokens = (self.input_shape[1] // patch) * (self.input_shape[2] // patch)
        self.patch_embed = nn.Conv2d(self.input_shape[0], dim, patch, stride=patch)
        self.pos = nn.Parameter(torch.zeros(1, tokens, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.blocks = nn.Sequential(*(Block(dim, num_heads, hidden) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos
        return self.head(self.norm(self.blocks(x)).mean(1))


MODELS = {
    "lenet300": LeNet300,
    "lenet5": LeNet5,
    "digits_cnn": DigitsCNN,
    "vgg16": VGG16,
    "resnet18": ResNet18,
    "resnet8": ResNet8,
    "alexnet": AlexNet,
    "vit_tiny": ViTTiny,
}
TRACED = ("vit_tiny",)  # zoo models priced from their trace (a Linear over tokens), like your own models


def build_model(name: str, num_classes: int | None = None) -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"model {name!r} unknown; allowed: {', '.join(sorted(MODELS))}")
    cls = MODELS[name]
    return cls() if num_classes is None else cls(num_classes)


def prunable_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Conv2d and Linear modules by fully qualified name, in definition order."""
    return {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
