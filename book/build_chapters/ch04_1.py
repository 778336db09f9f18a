"""4.1 计算机视觉：卷积神经网络 → chapters/ch04_1_cnn.ipynb  (run: .venv/bin/python book/build_chapters/ch04_1.py)"""

from nbgen import CHECK, CHECK_HELPER, Exercises, build, code, md

ex = Exercises()
cells = []

# ---------------------------------------------------------------------------------------- 导言
cells += [
    md(r"""
# 4.1 计算机视觉：卷积神经网络

一张 $32 \times 32$ 的彩色图像有 $3 \times 32 \times 32 = 3072$ 个数。把它拉成向量交给 3.1 节的全连接网络当然可以，但这样做丢掉了图像最重要的两条性质：
**相邻像素才相关**（一条边、一个笔画只占很小一块），以及**同一个图案可以出现在任何位置**（数字"7"向右平移几个像素还是"7"）。
**卷积神经网络**（convolutional neural network，CNN）把这两条性质直接写进网络结构：卷积层只看局部窗口，并且在所有位置使用同一组权重 {cite}`lecun1998gradient`。
2012 年 AlexNet 在 ImageNet 上的胜利使它成为计算机视觉的标准工具 {cite}`krizhevsky2012imagenet`。

源文档给出了 CNN 的典型结构——卷积层提取局部特征、池化层汇总特征、全连接层完成分类——和一个 PyTorch 写的小网络 `ConvNet`。本节逐项讲解：

1. 卷积计算的是什么：一个**局部的、权重共享的线性映射**；深度学习里的"卷积"实际上是互相关；填充、步幅和输出尺寸公式；池化。
2. **卷积与池化的反向传播**：推导出来，并用数值验证"卷积的反向传播还是卷积"。
3. 源文档的 PyTorch `ConvNet` 与 nnlib 的 `ConvNet` 逐位对照：同一组权重，输出和全部梯度一致。
4. 在随书附带的真实手写数字上训练它（不需要联网），看它学到的卷积核和特征图；CIFAR-10 与 GPU 作为可选的完整运行。
5. 两个交互组件：卷积探索器（在真实照片上换卷积核、步幅、填充）与 ConvNet 的梯度流仪表盘。
"""),
    code(r"""
RUN_FULL_CIFAR10 = False   # 改成 True：下载 CIFAR-10（约 170 MB，需联网），在最快的设备（有 GPU 时用 GPU）上训练 10 轮

import inspect
import time

import numpy as np
import matplotlib.pyplot as plt
import scipy.signal
import torch
import torch.nn.functional as F
from IPython.display import display

import nnlib
from nnlib import models, nn, optim
from nnlib.data import DataLoader, load_cifar10, load_digits, progress
from nnlib.errors import ShapeError
from nnlib.nn import conv as conv_module
from nnlib.widgets import ConvExplorer, GradientFlowDashboard
from nnlib.widgets.conv_explorer import KERNELS, convolve, sample_image

# 训练所用的设备：有 CUDA GPU 时用它，否则用 NumPy 后端。本节的网络很小，torch 的 CPU 后端（"cpu"）并不比
# NumPy 后端快；Apple 的 MPS 不支持 4.1.6 节训练所用的 float64。想比较，可以改成 DEVICE = "cpu"。
DEVICE = next((d for d in nnlib.available_devices() if d.startswith("cuda")), "numpy")
print("训练所用的设备:", DEVICE)
"""),
]

# ---------------------------------------------------------------------------------------- 4.1.1
cells += [
    md(r"""
## 4.1.1 卷积：局部的、权重共享的线性映射

先看单通道。输入是高 $H$、宽 $W$ 的图像 $x$，**卷积核**（kernel，也叫滤波器）是 $k \times k$ 的权重 $K$，外加一个偏置 $b$。输出的每个位置 $(i, j)$ 是核与输入中对应窗口的逐元素乘积之和：

$$
y_{i,j} = b + \sum_{u=0}^{k-1} \sum_{v=0}^{k-1} K_{u,v}\, x_{i+u,\, j+v}, \qquad 0 \le i \le H - k, \quad 0 \le j \le W - k .
$$

多通道时，输入 $x \in \mathbb{R}^{C \times H \times W}$ 有 $C$ 个通道（彩色图像 $C = 3$），每个输出通道 $o$ 有自己的一组核 $K_{o} \in \mathbb{R}^{C \times k \times k}$，对所有输入通道求和：

$$
y_{o,i,j} = b_o + \sum_{c=0}^{C-1} \sum_{u,v} K_{o,c,u,v}\, x_{c,\, i+u,\, j+v} .
$$

全部核合起来是一个 $O \times C \times k \times k$ 的数组（$O$ 是输出通道数），nnlib 和 PyTorch 把它存放在层的 `weight` 属性里，库的代码注释里写作 $W$。本节用 $K$ 表示核，$W$ 只表示图像的宽。

输出 $y_{o}$ 称为一张**特征图**（feature map）。这仍然是一个线性映射 $y = Ax + b$，只是矩阵 $A$ 很特殊：

- **局部连接**：$y_{o,i,j}$ 只依赖输入中 $C \times k \times k$ 的一个窗口，$A$ 的每一行只有 $Ck^2$ 个非零元素；
- **权重共享**：所有位置 $(i, j)$ 用同一组 $K_o$，$A$ 的各行是同一组数平移后的样子。

**它省下多少参数？** 源文档 `ConvNet` 的第一层 `Conv2d(3, 6, 5)` 把 $3 \times 32 \times 32$ 的图像变成 $6 \times 28 \times 28$ 的特征图。同样的输入和输出尺寸，用全连接层需要多少参数？
"""),
    code(r"""
conv1 = nn.Conv2d(3, 6, 5)
dense_in, dense_out = 3 * 32 * 32, 6 * 28 * 28
print(f"卷积层 Conv2d(3, 6, 5) 的参数: {sum(p.numel() for p in conv1.parameters()):,}"
      f"  = 6 × (3 × 5 × 5) 个权重 + 6 个偏置")
print(f"同样输入输出尺寸的全连接层:     {dense_in * dense_out + dense_out:,}  = {dense_in} × {dense_out} + {dense_out}")
print(f"相差约 {(dense_in * dense_out + dense_out) / 456:,.0f} 倍")
""", tags=[CHECK]),
    md(r"""
456 个参数对 1400 多万个，差三万多倍。把卷积层显式地写成矩阵 $A$（这里取单通道 $6 \times 6$ 输入、$3 \times 3$ 核，$A$ 是 $16 \times 36$ 的），就能看到局部连接与权重共享：
"""),
    code(r"""
nnlib.manual_seed(0)
small = nn.Conv2d(1, 1, 3, bias=False, dtype="float64")
# A 的第 n 列 = 把第 n 个像素设为 1、其余为 0 时的输出（线性映射作用在标准基上）
basis = np.eye(36).reshape(36, 1, 6, 6)
A = small(basis).reshape(36, 16).T                     # (16 个输出, 36 个输入)

fig, ax = plt.subplots(figsize=(7, 3.4))
im = ax.imshow(A, cmap="RdBu", vmin=-np.abs(A).max(), vmax=np.abs(A).max())
ax.set_xlabel("输入像素的序号（6×6 按行展开）")
ax.set_ylabel("输出位置的序号（4×4）")
ax.set_title("卷积层对应的矩阵 A：每行 9 个非零元素，各行是同一组权重平移")
fig.colorbar(im, ax=ax, shrink=0.8)
plt.show()
"""),
    code(r"""
print("A 的形状:", A.shape, "  每行非零元素个数:", sorted(set((A != 0).sum(axis=1).tolist())))
print("各行的非零元素都是同一组 9 个权重:", all(np.array_equal(row[row != 0], A[0][A[0] != 0]) for row in A))
""", tags=[CHECK]),
    md(r"""
**"卷积"实际上是互相关。** 数学和信号处理里的卷积要先把核**翻转** 180°：$(x * K)_{i,j} = \sum_{u,v} K_{u,v}\, x_{i-u,\, j-v}$。上面的定义没有翻转，它在数学上叫**互相关**（cross-correlation），本节记作 $\star$：

$$
(x \star K)_{i,j} = \sum_{u,v} K_{u,v}\, x_{i+u,\, j+v} ,
$$

于是单通道的卷积层就是 $y = x \star K + b$。
深度学习库（PyTorch、TensorFlow、nnlib）算的都是互相关，却沿用了"卷积"这个名字 {cite}`goodfellow2016deep`。对要学习的核来说这无关紧要：网络学到的只不过是翻转了的核。
但在和信号处理的公式或库对照时必须记住。下面在一个 $5 \times 5$ 的例子上对照五种算法：直接按定义写的两重循环、nnlib、PyTorch、SciPy 的互相关 `correlate2d` 和真正的卷积 `convolve2d`：
"""),
    code(r"""
rng = np.random.default_rng(0)
x = rng.integers(0, 5, size=(5, 5)).astype(np.float64)
k = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 3.0]])   # 不对称的核：翻转后不同

by_definition = np.array([[np.sum(k * x[i:i + 3, j:j + 3]) for j in range(3)] for i in range(3)])
layer = nn.Conv2d(1, 1, 3, bias=False, dtype="float64")
layer.weight.data = k[None, None].copy()
results = {
    "nnlib Conv2d": layer(x[None, None])[0, 0],
    "torch conv2d": F.conv2d(torch.from_numpy(x)[None, None], torch.from_numpy(k)[None, None])[0, 0].numpy(),
    "scipy correlate2d": scipy.signal.correlate2d(x, k, mode="valid"),
    "scipy convolve2d": scipy.signal.convolve2d(x, k, mode="valid"),
    "convolve2d, 核先翻转": scipy.signal.convolve2d(x, k[::-1, ::-1], mode="valid"),
}
for name, y in results.items():
    print(f"{name:<22} 与按定义计算的结果相同: {np.array_equal(y, by_definition)}")
""", tags=[CHECK]),
]

# ---------------------------------------------------------------------------------------- 4.1.2
cells += [
    md(r"""
## 4.1.2 填充、步幅与输出尺寸

两个超参数改变窗口的滑动方式：

- **填充**（padding）$p$：在输入四周补 $p$ 圈 0。没有填充时，每过一层卷积图像就缩小 $k - 1$；$p = (k-1)/2$（$k$ 为奇数）可以让输出与输入一样大，边缘像素也能被窗口中心覆盖到。
- **步幅**（stride）$s$：窗口每次移动 $s$ 个像素，输出缩小约 $s$ 倍。

沿高度方向，补零后的输入长 $H + 2p$；窗口的起点是 $0, s, 2s, \dots$，最后一个起点不能超过 $H + 2p - k$。所以输出的高是

$$
H_{\text{out}} = \left\lfloor \frac{H + 2p - k}{s} \right\rfloor + 1 ,
$$

宽度同理。源文档的 `ConvNet` 全部使用 $p = 0$、$s = 1$ 的卷积和 $2 \times 2$、步幅 2 的池化（池化的输出尺寸公式相同）：
"""),
    code(r"""
convnet = models.ConvNet()
shape = (1, 3, 32, 32)
print(f"输入                         {shape[1:]}")
for name, layer in [("conv1 (k=5, p=0, s=1)", convnet.conv1), ("pool  (k=2, s=2)", convnet.pool),
                    ("conv2 (k=5, p=0, s=1)", convnet.conv2), ("pool  (k=2, s=2)", convnet.pool)]:
    shape = layer(np.zeros(shape, dtype=np.float32)).shape
    print(f"{name:<28} {tuple(shape[1:])}")
print("展平后的特征数 16 × 5 × 5 =", 16 * 5 * 5, "  → fc1 的输入")
""", tags=[CHECK]),
    md(r"""
32 → 28 → 14 → 10 → 5：这就是源文档里 `x.view(-1, 16 * 5 * 5)` 中 400 的来历。输入如果不是 $32 \times 32$，这个数就不对了（nnlib 的 `ConvNet` 会明确报错，而不是像 `view` 那样不加提示地把数据重新分组）。

**换成 MNIST。** MNIST 的手写数字是 $1 \times 28 \times 28$ 的灰度图像，源文档的网络要改两处：`conv1` 的输入通道数 3 改成 1；尺寸变成 28 → 24 → 12 → 8 → 4，所以 `fc1` 的输入和 `view` 里的 $16 \cdot 5 \cdot 5 = 400$ 都要改成 $16 \cdot 4 \cdot 4 = 256$。
下面是改过的 PyTorch 类（其余与源文档相同）和用 nnlib 的 `nn.Sequential` 搭出的同一个网络，送入两张 $28 \times 28$ 的图像，逐层核对形状：
"""),
    code(r"""
class MnistConvNet(torch.nn.Module):
    # 源文档的 ConvNet，改了两处以适应 MNIST 的 1×28×28 灰度图像
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 6, 5)             # 改动 1：1 个输入通道（原来是 3）
        self.pool = torch.nn.MaxPool2d(2, 2)
        self.conv2 = torch.nn.Conv2d(6, 16, 5)
        self.fc1 = torch.nn.Linear(16 * 4 * 4, 120)       # 改动 2：16·4·4 个特征（原来是 16·5·5）
        self.fc2 = torch.nn.Linear(120, 84)
        self.fc3 = torch.nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 16 * 4 * 4)                        # 改动 2（同上）
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


mnist_torch = MnistConvNet()
mnist_nnlib = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2, 2),
                            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(),
                            nn.Linear(16 * 4 * 4, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
h = torch.zeros(2, 1, 28, 28)
print(f"{'输入':<22}{tuple(h.shape)}")
for name in ["conv1", "pool", "conv2", "pool"]:
    h = getattr(mnist_torch, name)(h)
    print(f"{name:<22}{tuple(h.shape)}")
print(f"{'view(-1, 16 * 4 * 4)':<22}{tuple(h.view(-1, 16 * 4 * 4).shape)}")
print("PyTorch 版的输出:", tuple(mnist_torch(torch.zeros(2, 1, 28, 28)).shape),
      "  nnlib 版的输出:", mnist_nnlib(np.zeros((2, 1, 28, 28), dtype=np.float32)).shape)
""", tags=[CHECK]),
    md(r"""
只改了通道数、忘了改 400 会怎样？第二次池化后每张图像有 $16 \times 4 \times 4 = 256$ 个数。两张图像共 512 个数，不是 400 的整数倍，`view` 报错；
25 张图像共 $25 \times 256 = 6400 = 16 \times 400$ 个数，`view` 不报错，却把它们切成 16 行，有的行混着两张图像的特征，后面的训练照常进行，结果却是错的：
"""),
    code(r"""
for n in (2, 25):
    features = torch.zeros(n, 16, 4, 4)                   # 28×28 的图像第二次池化后的特征
    try:
        print(f"{n} 张图像: view(-1, 16 * 5 * 5) 的形状", tuple(features.view(-1, 16 * 5 * 5).shape))
    except RuntimeError:
        print(f"{n} 张图像: view(-1, 16 * 5 * 5) 报错（RuntimeError）")
""", tags=[CHECK]),
    md(r"""
**除不尽时怎么办？** 公式里的向下取整意味着：当 $(H + 2p - k)$ 不能被 $s$ 整除时，补零后输入的最后几行**没有任何窗口覆盖**，被直接舍弃。PyTorch 就是这样做的，而且不给任何提示。
nnlib 在这里选择报错，因为这几乎总是步幅或填充选错了的信号（比如想让输出恰好减半却少补了一圈 0）。例如 $6 \times 6$ 的输入、$3 \times 3$ 的核、步幅 2：$(6 - 3)/2 + 1 = 2.5$。
"""),
    code(r"""
try:
    nn.Conv2d(1, 1, 3, stride=2)(np.zeros((1, 1, 6, 6), dtype=np.float32))
except ShapeError as err:
    print("ShapeError:", err)
print("PyTorch 的输出形状:", tuple(torch.nn.Conv2d(1, 1, 3, stride=2)(torch.zeros(1, 1, 6, 6)).shape), "（最后一行、最后一列被忽略）")
""", tags=[CHECK]),
    md(r"""
错误信息（nnlib 的报错是英文的）写出了公式、PyTorch 会取的值和被忽略的是哪几行，并建议换一个步幅、填充或输入尺寸。这里补一圈 0（$p = 1$）也不行：$(6 + 2 - 3)/2 + 1 = 3.5$；
换成 $7 \times 7$ 的输入（$(7 - 3)/2 + 1 = 3$）或 $2 \times 2$ 的核（$(6 - 2)/2 + 1 = 3$）才行。练习 1 让你自己写这个公式。

**nnlib 怎样算卷积：im2col。** 逐像素的循环在 Python 里太慢。nnlib 先把每个窗口复制成矩阵 `cols` 的一列（`unfold`，也叫 im2col），于是整层卷积就是**一次矩阵乘法** $Y = K_{\text{mat}} \cdot \text{cols}$，
其中 $K_{\text{mat}}$（代码中的 `w_mat`）是把 $O$ 个核各自展平、排成的 $O \times (C k^2)$ 矩阵。`unfold` 只对核内的 $k^2$ 个偏移 $(u, v)$ 循环，每次复制整批图像的一个带步幅的切片：
"""),
    code(r"""
print(inspect.getsource(conv_module.unfold))
print(inspect.getsource(nn.Conv2d.forward))
"""),
]

# ---------------------------------------------------------------------------------------- 4.1.3
cells += [
    md(r"""
## 4.1.3 池化

**池化**（pooling）把每个通道的一个小窗口汇总成一个数：**最大池化**取最大值，**平均池化**取平均值。它没有参数，各通道分别处理。
$2 \times 2$、步幅 2 的池化把特征图的高和宽各减半：后面的层用同样大小的核就能"看到"输入中更大的区域，计算量也降为四分之一。
最大池化还带来少量平移不变性：一个特征在 $2 \times 2$ 窗口内移动一个像素，输出不变。
"""),
    code(r"""
x4 = np.array([[1, 3, 2, 0],
               [4, 2, 1, 1],
               [0, 1, 5, 6],
               [2, 2, 7, 1]], dtype=np.float64)[None, None]
print("最大池化 2×2, 步幅 2:\n", nn.MaxPool2d(2)(x4)[0, 0])
print("平均池化 2×2, 步幅 2:\n", nn.AvgPool2d(2)(x4)[0, 0])
""", tags=[CHECK]),
]

# ---------------------------------------------------------------------------------------- 4.1.4
cells += [
    md(r"""
## 4.1.4 卷积与池化的反向传播

沿用 3.2 节的记号：$\delta = \partial J / \partial y$ 是损失对本层输出的梯度，形状与 $y$ 相同，由后面的层传回来。本层要计算两类量：参数的梯度 $\partial J/\partial K$、$\partial J/\partial b$，以及传给前一层的 $\partial J/\partial x$。
先看单通道、$p = 0$、$s = 1$：$y_{i,j} = b + \sum_{u,v} K_{u,v}\, x_{i+u,\, j+v}$。

**对权重。** $K_{u,v}$ 出现在**每一个**输出 $y_{i,j}$ 里（权重共享），系数是 $x_{i+u,\, j+v}$。由链式法则把所有输出的贡献加起来：

$$
\frac{\partial J}{\partial K_{u,v}} = \sum_{i,j} \delta_{i,j}\, x_{i+u,\, j+v} = (x \star \delta)_{u,v}, \qquad \frac{\partial J}{\partial b} = \sum_{i,j} \delta_{i,j} .
$$

对照 4.1.1 节 $\star$ 的定义：这正是**输入 $x$ 与 $\delta$ 的互相关**——$\delta$ 扮演了卷积核的角色，结果的形状 $k \times k$ 与 $K$ 相同。

**对输入。** 像素 $x_{m,n}$ 出现在所有覆盖它的窗口里：窗口起点 $(i, j) = (m - u,\, n - v)$，系数 $K_{u,v}$。所以

$$
\frac{\partial J}{\partial x_{m,n}} = \sum_{u,v} \delta_{m-u,\, n-v}\, K_{u,v} = (\delta * K)_{m,n} ,
$$

其中超出 $\delta$ 范围的项为 0。这是 $\delta$ 与 $K$ 的**真正的卷积** $*$（下标相减）。把它改写成互相关：令 $\tilde K_{u,v} = K_{k-1-u,\, k-1-v}$ 是翻转 180° 的核，
$\tilde\delta$ 是四周补了 $k-1$ 圈 0 的 $\delta$（$\tilde\delta_{i,j} = \delta_{i-k+1,\, j-k+1}$），把求和下标 $u$ 换成 $k-1-u$、$v$ 换成 $k-1-v$，就得到

$$
\frac{\partial J}{\partial x_{m,n}} = \sum_{u,v} \tilde K_{u,v}\, \tilde\delta_{m+u,\, n+v} = (\tilde\delta \star \tilde K)_{m,n} ,
$$

即 **"补零 $k-1$ 圈的 $\delta$" 与 "翻转的核" 的互相关**，也叫 $\delta$ 与 $K$ 的"全"卷积（full convolution）：输出大小 $(H - k + 1) + 2(k-1) - k + 1 = H$，恰好与输入一样大。
一般情形只多三处改动：

- **多通道**：每对通道 $(o, c)$ 各有一个单通道的核 $K_{o,c}$，上面的推导对每一对成立，再按链式法则求和。对权重，$\partial J/\partial K_{o,c} = x_c \star \delta_o$（一批样本时把各样本的结果相加；练习 2 用 NumPy 实现它）；
  对输入，$\partial J/\partial x_c = \sum_{o} \tilde\delta_o \star \tilde K_{c,o}$，其中 $\tilde K_{c,o,u,v} = K_{o,c,\,k-1-u,\,k-1-v}$：核翻转 180°，输入、输出通道对调，$\tilde K \in \mathbb{R}^{C \times O \times k \times k}$——它本身就是一个从 $O$ 个通道到 $C$ 个通道的卷积层的核；
- **填充 $p$**：前向时输入已补了 $p$ 圈，反向时 $\delta$ 只需再补 $k - 1 - p$ 圈；
- **步幅 $s$**：前向时跳过的位置没有输出，反向时在 $\delta$ 的相邻元素之间插入 $s-1$ 个 0（"膨胀"），再做上面的步骤。

所以**卷积的反向传播还是卷积**，可以用同一套代码计算——这也是所谓"转置卷积"（transposed convolution）名字的来历：im2col 的写法下前向是 $Y = K_{\text{mat}}\,\text{cols}$，
反向就是 $\partial J/\partial K_{\text{mat}} = \delta\, \text{cols}^\top$ 与 $\partial J/\partial \text{cols} = K_{\text{mat}}^\top \delta$，后者再由 `fold`（`unfold` 的伴随：把每列加回它来自的窗口）变回图像形状。nnlib 的实现（注释里的 W 就是这里的核 $K$，即 `self.weight`）：
"""),
    code(r"""
print(inspect.getsource(nn.Conv2d.backward))
print(inspect.getsource(conv_module.fold))
"""),
    md(r"""
**用数值验证。** 下面取一批 $N = 2$、$C = 3$ 通道、$7 \times 7$ 的输入和 $O = 4$ 个 $3 \times 3$ 的核（float64），分别在 $p = 1, s = 1$ 和 $p = 1, s = 2$ 下：

1. 用 nnlib 的 `backward` 算出 $\partial J/\partial x$ 和 $\partial J/\partial K$；
2. 用**另一个** `Conv2d`（前向！）按上面的公式重新算：$\partial J/\partial x$ = 膨胀、补零后的 $\delta$ 与翻转、通道对调的核的互相关；$\partial J/\partial K$ = 输入与（膨胀后的）$\delta$ 的互相关——把批量维当作通道、通道维当作批量，$\delta$ 当作核，这样对批量的求和就由卷积层对输入通道的求和完成。
"""),
    code(r"""
def dilate(d, s):
    # 在 δ 的相邻元素之间插入 s − 1 个 0（步幅 s 的前向跳过的位置）
    n, c, h, w = d.shape
    out = np.zeros((n, c, (h - 1) * s + 1, (w - 1) * s + 1))
    out[:, :, ::s, ::s] = d
    return out


def conv_forward(x, weight, padding=0):
    # 用 nnlib 的 Conv2d（前向、步幅 1、无偏置）计算 x 与给定核的互相关
    layer = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2:], padding=padding, bias=False, dtype="float64")
    layer.weight.data = np.ascontiguousarray(weight)
    return layer(np.ascontiguousarray(x))


rng = np.random.default_rng(1)
x = rng.standard_normal((2, 3, 7, 7))
for p, s in [(1, 1), (1, 2)]:
    nnlib.manual_seed(0)
    layer = nn.Conv2d(3, 4, 3, stride=s, padding=p, dtype="float64")
    y = layer(x)
    delta = rng.standard_normal(y.shape)                     # δ = ∂J/∂y，形状与 y 相同
    dx_backward = layer.backward(delta)
    dK_backward = layer.weight.grad
    k = 3
    flipped = layer.weight.data[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)     # (C, O, k, k)：翻转 180°，通道对调
    dx_as_conv = conv_forward(dilate(delta, s), flipped, padding=k - 1 - p)
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dK_as_conv = conv_forward(x_pad.transpose(1, 0, 2, 3), dilate(delta, s).transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    print(f"p = {p}, s = {s}: y {y.shape}，∂J/∂x {dx_as_conv.shape}，∂J/∂K {dK_as_conv.shape}")
    print(f"    ∂J/∂x：backward 与“翻转核的卷积”一致 (误差 < 1e-12): {np.abs(dx_backward - dx_as_conv).max() < 1e-12}")
    print(f"    ∂J/∂K：backward 与“x 与 δ 的互相关”一致 (误差 < 1e-12): {np.abs(dK_backward - dK_as_conv).max() < 1e-12}")
""", tags=[CHECK]),
    md(r"""
两种算法在 float64 的舍入误差以内一致：反向传播确实是卷积。实际的库（cuDNN、PyTorch）正是调用卷积例程来计算这两个梯度的。

**池化的反向传播。** 最大池化 $y = \max_{r} x_r$（$r$ 取遍窗口内的元素）对 $x_r$ 的导数是：$x_r$ 是最大值时为 1，否则为 0。所以**整个 $\delta$ 都交给窗口里的最大值**，其余位置的梯度为 0
（并列最大时 nnlib 与 PyTorch 都交给按行优先顺序的第一个）。前向时只需记住最大值在哪里。平均池化 $y = \frac{1}{k^2}\sum_r x_r$ 的导数处处是 $1/k^2$：**$\delta$ 平均分给窗口里的每个元素**。
窗口重叠（$s < k$）时，一个元素可能属于多个窗口，它的梯度是各窗口贡献之和。nnlib 的最大池化反向：
"""),
    code(r"""
print(inspect.getsource(nn.MaxPool2d.backward))
"""),
    code(r"""
delta = np.array([[10.0, 20.0], [30.0, 40.0]])[None, None]
pool_max, pool_avg = nn.MaxPool2d(2), nn.AvgPool2d(2)
pool_max(x4), pool_avg(x4)
print("输入（同 4.1.3 节）:\n", x4[0, 0])
print("最大池化的 ∂J/∂x（δ = [[10, 20], [30, 40]]）:\n", pool_max.backward(delta)[0, 0])
print("平均池化的 ∂J/∂x:\n", pool_avg.backward(delta)[0, 0])
""", tags=[CHECK]),
]

# ---------------------------------------------------------------------------------------- 4.1.5
cells += [
    md(r"""
## 4.1.5 源文档的 ConvNet：PyTorch 与 nnlib 逐位对照

下面一格是源文档的代码，一字未改。它把 `torch.nn` 叫作 `nn`——这个名字本节原来指 nnlib 的 `nn`。`__init__` 在**运行时**才查找 `nn.Conv2d` 等名字，
所以下一格先用这个类建好 PyTorch 模型（用 float64，下面的对照需要），再把名字 `nn` 还给 nnlib。
"""),
    code(r"""
import torch.nn as nn
import torch.nn.functional as F

class ConvNet(nn.Module):
    def __init__(self):
        super(ConvNet, self).__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 16 * 5 * 5)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x
"""),
    code(r"""
torch.manual_seed(0)
torch_net = ConvNet().double()   # 源文档的 PyTorch 模型（此时 nn 还是 torch.nn）
from nnlib import nn             # 名字 nn 重新指向 nnlib.nn
print(models.ConvNet())          # nnlib 的 ConvNet：同样的层、同样的属性名
""", tags=[CHECK]),
    md(r"""
nnlib 的 `ConvNet`（`nnlib.models`）用 nnlib 的层搭成，属性名与源文档相同，所以 `state_dict` 的键也相同：PyTorch 模型的权重可以原样装进 nnlib 模型。
它的 `backward` 按相反的顺序走一遍 `forward` 的每一步：
"""),
    code(r"""
print(inspect.getsource(models.ConvNet.forward))
print(inspect.getsource(models.ConvNet.backward))
"""),
    md(r"""
把 PyTorch 模型随机初始化的权重装进 nnlib 模型，在 8 张随机图像上用交叉熵损失比较：输出（logits）、对输入的梯度和全部 10 个参数的梯度。用 float64，让两边的差别只剩舍入误差：
"""),
    code(r"""
nnlib_net = models.ConvNet(dtype="float64")
nnlib_net.load_state_dict(torch_net.state_dict())

rng = np.random.default_rng(2)
images = rng.standard_normal((8, 3, 32, 32))
labels = rng.integers(0, 10, size=8)

outputs = nnlib.gradcheck.compare({
    "nnlib": {"logits": nnlib_net(images)},
    "PyTorch": {"logits": torch_net(torch.from_numpy(images)).detach().numpy()},
}, what="output")
gradients = nnlib.gradcheck.compare({
    "nnlib": nnlib.gradcheck.analytic_gradients(nnlib_net, images, loss=(nn.CrossEntropyLoss(), labels)),
    "torch.autograd": nnlib.gradcheck.autograd_gradients(torch_net, images, loss=(torch.nn.CrossEntropyLoss(), labels)),
}, rtol=1e-10, atol=1e-12)
display(outputs, gradients)
"""),
    code(r"""
print("state_dict 的键相同:", list(nnlib_net.state_dict()) == list(torch_net.state_dict()))
print("输出 (logits) 最大相对误差 < 1e-10:", outputs.max_relative_error < 1e-10)
print(f"比较了 {len(gradients.rows)} 个梯度（输入 + {len(gradients.rows) - 1} 个参数），最大相对误差 < 1e-10:",
      gradients.max_relative_error < 1e-10)
""", tags=[CHECK]),
]

# ---------------------------------------------------------------------------------------- 4.1.6
cells += [
    md(r"""
## 4.1.6 在真实的手写数字上训练

源文档的 `ConvNet` 是为 CIFAR-10 设计的（$3 \times 32 \times 32$ 的彩色小图像，10 类）。CIFAR-10 有 170 MB，需要联网下载，训练的计算量也大得多，所以默认不运行（见本节末尾）。
默认使用一份**随书附带、不需要联网**的真实数据：scikit-learn 自带的 1797 张 $8 \times 8$ 手写数字（由真人书写、扫描）。`nnlib.data.load_digits` 把每个像素放大成 $3 \times 3$ 的块（$24 \times 24$），
放在 $32 \times 32$ 画布的中央，并复制成 3 个通道，正好是 `ConvNet` 要的输入；训练集、测试集按固定的随机种子划分。

输入先**标准化**：减去训练集像素的均值、除以标准差。这不改变任务，但让第一层的输入以 0 为中心、尺度为 1（原始像素大多是 0，均值远离 0），训练收敛得更快、更稳定。
数据和模型都用 **float64**，原因见训练之后的说明。
"""),
    code(r"""
x_train, y_train = load_digits(train=True, size=32, channels=3)
x_test, y_test = load_digits(train=False, size=32, channels=3)
x_train, x_test = x_train.astype(np.float64), x_test.astype(np.float64)
mean, std = x_train.mean(), x_train.std()
x_train, x_test = (x_train - mean) / std, (x_test - mean) / std      # 测试集用训练集的均值和标准差
print(f"共 {len(y_train) + len(y_test)} 张图像。训练集:", x_train.shape, x_train.dtype, "  测试集:", x_test.shape,
      "  类别:", sorted(set(y_train.tolist())))
""", tags=[CHECK]),
    md(r"""
训练循环与 3.3 节相同，只是模型换成了 `ConvNet`：小批量 32 张，Adam（学习率 $5 \times 10^{-3}$），学习率按余弦曲线在 5 轮内降到 0（`CosineAnnealingLR`，3.3 节）。
`backward(..., input_grad=False)` 告诉模型不必计算对图像本身的梯度（数据不需要梯度），省掉第一层的 `fold`。`nnlib.data.progress` 是一个 tqdm 进度条。
"""),
    code(r"""
def evaluate(model, x, y, device, batch_size=1000):
    correct = 0
    for xb, yb in DataLoader(x, y, batch_size=batch_size, device=device):
        correct += int((nnlib.to_numpy(model(xb)).argmax(axis=1) == nnlib.to_numpy(yb)).sum())
    return correct / len(y)


def train(model, train_data, test_data, *, epochs, lr, batch_size, device, seed=0):
    loader = DataLoader(*train_data, batch_size=batch_size, shuffle=True, seed=seed, device=device)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=lr)
    scheduler = optim.CosineAnnealingLR(optimizer, T_max=epochs * len(loader))   # 每步调整一次
    history = []
    bar = progress(range(1, epochs + 1), desc="训练")
    for epoch in bar:
        total = 0.0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            model.backward(criterion.backward(), input_grad=False)
            optimizer.step()
            scheduler.step()
            total += float(loss) * len(yb)
        history.append((total / len(train_data[1]), evaluate(model, *test_data, device)))
        bar.set_postfix(loss=f"{history[-1][0]:.3f}", test_acc=f"{history[-1][1]:.3f}")
    return history


EPOCHS, BATCH_SIZE = 5, 32
nnlib.manual_seed(0)
model = models.ConvNet(dtype="float64").to(DEVICE)
start = time.perf_counter()
history = train(model, (x_train, y_train), (x_test, y_test), epochs=EPOCHS, lr=5e-3, batch_size=BATCH_SIZE, device=DEVICE)
train_seconds = time.perf_counter() - start
for epoch, (loss, acc) in enumerate(history, start=1):
    print(f"第 {epoch} 轮：训练损失 {loss:.3f}，测试准确率 {acc:.1%}")
"""),
    code(r"""
steps = EPOCHS * -(-len(y_train) // BATCH_SIZE)                   # 每轮 ⌈训练集大小 / 32⌉ 步
test_accuracy = history[-1][1]
n_wrong = round((1 - test_accuracy) * len(y_test))
print(f"{EPOCHS} 轮共 {steps} 步、{EPOCHS * len(y_train)} 次图像的前向与反向")
print(f"测试准确率 {test_accuracy:.1%}（{len(y_test)} 张测试图像中错 {n_wrong} 张），不低于 97%: {test_accuracy >= 0.97}")
""", tags=[CHECK]),
    code(r"""
per_image = train_seconds / (EPOCHS * len(y_train))
print(f"本次训练用时 {train_seconds:.1f} 秒（设备 {DEVICE}），每张图像的前向与反向约 {per_image * 1e3:.2f} 毫秒；"
      f"按这个速度，CIFAR-10 训练 10 轮（50 万次）约需 {per_image * 500_000 / 60:.0f} 分钟")
"""),
    md(r"""
5 轮共 225 步、7190 次图像的前向与反向，测试准确率就达到了 98.6%。训练用时取决于机器和它当时的负载，上一格打印的是本次运行的用时。
nnlib 在 CPU 上默认只用一个线程（`nnlib.set_cpu_threads` 的说明写了原因）：这样小的网络，多线程快不了多少；机器上同时运行着其他程序时，多个线程互相等待，反而会慢很多。

**为什么用 float64。** 深度学习通常用 float32 训练，这里也可以（去掉上面的 `astype(np.float64)` 和 `dtype="float64"` 即可）。但训练要迭代几百步，每一步的舍入误差都会影响后面所有的步骤：
用 float32 时，换一个后端（NumPy 或 torch）、一种 BLAS 库或另一个线程数，几百步之后的权重就不再相同，最后几张测试图像的对错也可能随之改变。float64 的舍入误差小得多，
这 225 步在不同的机器上得到相同的准确率，所以上面可以检查具体的数字。代价是计算慢一些。

**可选：在 CIFAR-10 上训练。** 把第一格的 `RUN_FULL_CIFAR10` 改成 `True` 再运行下面一格：`nnlib.data.load_cifar10` 从多伦多大学的官方地址下载二进制版本（约 170 MB，下载后校验 SHA-256，缓存在 `~/.cache/nnlib`），
按通道标准化后用同一个 `train` 函数训练 10 轮。这个小网络在 CIFAR-10 上的测试准确率**约为 60%–65%**。
**本书构建时没有运行这一格**（构建环境不联网），这个数是参考值，不是本书验证过的结果。10 轮是 50 万次图像的前向与反向，上面第二格按本次手写数字训练的速度估算了所需的时间（CIFAR-10 用 float32 训练，实际会快一些）；这一格在有 GPU 时使用 GPU。
"""),
    code(r"""
if RUN_FULL_CIFAR10:
    cifar_device = nnlib.best_device()
    cx_train, cy_train = load_cifar10(train=True)
    cx_test, cy_test = load_cifar10(train=False)
    c_mean = cx_train.mean(axis=(0, 2, 3), keepdims=True)          # 每个颜色通道一个均值、一个标准差
    c_std = cx_train.std(axis=(0, 2, 3), keepdims=True)
    cx_train, cx_test = (cx_train - c_mean) / c_std, (cx_test - c_mean) / c_std
    nnlib.manual_seed(0)
    cifar_model = models.ConvNet().to(cifar_device)
    start = time.perf_counter()
    cifar_history = train(cifar_model, (cx_train, cy_train), (cx_test, cy_test),
                          epochs=10, lr=1e-3, batch_size=64, device=cifar_device)
    print(f"CIFAR-10 测试准确率 {cifar_history[-1][1]:.1%}，用时 {time.perf_counter() - start:.0f} 秒，设备 {cifar_device}")
else:
    print("跳过 CIFAR-10（RUN_FULL_CIFAR10 = False）")
"""),
]

# ---------------------------------------------------------------------------------------- 4.1.7
cells += [
    md(r"""
## 4.1.7 网络学到了什么：卷积核与特征图

`conv1` 有 6 个核，每个 $3 \times 5 \times 5$。这里的 3 个输入通道是同一张灰度图的副本，所以一个核对图像的作用等于它 3 个通道之和，下面画的就是这个和（红色为正、蓝色为负）。
再取一张测试图像，画出它经过 `conv1`（+ ReLU）的 6 张 $28 \times 28$ 特征图和经过 `conv2`（+ ReLU）的 16 张 $10 \times 10$ 特征图中的前 12 张：
"""),
    code(r"""
kernels = nnlib.to_numpy(model.conv1.weight.data).sum(axis=1)           # (6, 5, 5)
fig, axes = plt.subplots(1, 6, figsize=(9, 1.9))
limit = np.abs(kernels).max()
for i, ax in enumerate(axes):
    ax.imshow(kernels[i], cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_title(f"卷积核 {i + 1}", fontsize=10)
    ax.axis("off")
fig.suptitle("conv1 学到的 6 个 5×5 卷积核（3 个输入通道之和）", fontsize=11)
plt.show()
"""),
    code(r"""
sample = x_test[:1]
relu = nn.ReLU()
net_cpu = model.to("numpy")                                              # 画图：把模型搬回 NumPy
maps1 = relu(net_cpu.conv1(sample))[0]                                   # (6, 28, 28)
maps2 = relu(net_cpu.conv2(net_cpu.pool(maps1[None])))[0]                # (16, 10, 10)

fig = plt.figure(figsize=(11, 4.4))
grid = fig.add_gridspec(3, 10, width_ratios=[1.2, 1.2, 1.2, 1, 1, 1, 1, 1, 1, 1])
ax = fig.add_subplot(grid[:, :3])
ax.imshow(sample[0, 0], cmap="gray_r")
ax.set_title(f"输入（标签 {y_test[0]}）", fontsize=10)
ax.axis("off")
for i in range(6):
    ax = fig.add_subplot(grid[i // 3, 3 + i % 3])
    ax.imshow(maps1[i], cmap="viridis")
    ax.set_title(f"conv1 通道 {i + 1}", fontsize=8)
    ax.axis("off")
for i in range(12):
    ax = fig.add_subplot(grid[i // 4, 6 + i % 4])
    ax.imshow(maps2[i], cmap="viridis")
    ax.set_title(f"conv2 通道 {i + 1}", fontsize=8)
    ax.axis("off")
fig.suptitle("特征图：conv1 + ReLU（6 张 28×28）与 conv2 + ReLU（前 12 张 10×10）", fontsize=11)
plt.show()
"""),
    md(r"""
第一层的核很小（$5 \times 5$），只训练了 5 轮，看上去还相当粗糙；但其中几个已经是**正负两块分在两侧**的样子（例如上图中上下或左右分成红、蓝两块的核），也就是对某个方向上的明暗变化反应最强的边缘检测器。
第一层的特征图仍然看得出数字的形状：有的在笔画上亮，有的在背景上亮，有的只在笔画某一侧的边缘亮。第二层的特征图更小、更抽象：每张只在数字的某些局部（拐角、端点、某一段笔画）处响应。
这与 Zeiler 和 Fergus 对大型网络逐层可视化看到的规律一致：越往后的层，特征覆盖的区域越大、越抽象 {cite}`zeiler2014visualizing`。
"""),
]

# ---------------------------------------------------------------------------------------- 4.1.8
cells += [
    md(r"""
## 4.1.8 卷积探索器

训练出来的核不易解读；手工设计的核则让卷积的作用一目了然。`nnlib.widgets.ConvExplorer` 把一个卷积核用 nnlib 的 `Conv2d`（权重固定为这个核）作用在一张真实照片上——scikit-learn 自带的 `china.jpg`，转成灰度、缩小到 $142 \times 213$。
可以选择核（Sobel 边缘、拉普拉斯、模糊、锐化，或者在文本框里输入自己的核）、步幅和填充；状态栏用 4.1.2 节的公式写出输出尺寸。
步幅除不尽时，探索器先裁掉补零后输入中没有窗口覆盖的行和列（PyTorch 的做法），并在状态栏说明。

下面的代码格显示探索器，再从代码里把它设成"竖直 Sobel、步幅 2、填充 1"。**在 Jupyter 或 Colab 中运行时可以直接改控件**；网页版只显示最后的状态。
"""),
    code(r"""
explorer = ConvExplorer("china", kernel="edge_x")
display(explorer)
explorer.kernel.value = "edge_y"
explorer.stride.value = 2
explorer.padding.value = 1
"""),
    code(r"""
print("输入:", explorer.plotted["image"].shape, "  输出:", explorer.plotted["output"].shape,
      "  裁掉的（行, 列）:", explorer.plotted["cropped"])
""", tags=[CHECK]),
    md(r"""
高度 $(142 + 2 - 3)/2 = 70.5$ 除不尽：补零后的最后一行没有窗口覆盖，探索器把它裁掉，输出高 $\lfloor 70.5 \rfloor + 1 = 71$；宽度 $(213 + 2 - 3)/2 + 1 = 107$ 恰好整除。

同样的计算画成一张静态的图（每张图各自把最小值画成黑、最大值画成白）：
"""),
    code(r"""
photo = sample_image("china")
settings = [("identity", 1, 0), ("edge_x", 1, 1), ("edge_y", 1, 1), ("laplace", 1, 1), ("blur", 1, 2), ("edge_y", 2, 1)]
fig, axes = plt.subplots(2, 3, figsize=(10, 5.6))
for ax, (name, stride, padding) in zip(axes.ravel(), settings):
    out, _, _ = convolve(photo, KERNELS[name][1], stride, padding)
    ax.imshow(out, cmap="gray")
    ax.set_title(f"{KERNELS[name][0]}\n步幅 {stride}，填充 {padding} → {out.shape[0]}×{out.shape[1]}", fontsize=9)
    ax.axis("off")
fig.tight_layout(h_pad=1.5)
plt.show()
"""),
    md(r"""
水平方向的 Sobel 核 $\begin{bmatrix}-1&0&1\\-2&0&2\\-1&0&1\end{bmatrix}$ 计算左右两侧的亮度差，所以**竖直的**边缘（屋檐的立柱）最亮；竖直方向的 Sobel 核反过来突出水平的边缘（屋檐、台阶）。
拉普拉斯核对各个方向的变化都有反应；均值核把每个像素换成周围 25 个像素的平均，图像变模糊。步幅 2 的输出只有一半大小，细节更少，但主要的边缘还在——这正是 CNN 用步幅或池化逐步缩小特征图的理由。
"""),
]

# ---------------------------------------------------------------------------------------- 4.1.9
cells += [
    md(r"""
## 4.1.9 ConvNet 的梯度流仪表盘

3.2 节的梯度流仪表盘也能接收任何 nnlib 模型：传入 `model=models.ConvNet`（一个构造新模型的函数）和图像数据，它就为每个带权重的层（`conv1`、`conv2`、`fc1`、`fc2`、`fc3`）画出权重梯度范数随训练步数的变化。
这里的 $W$ 泛指各层的权重（卷积层的核 $K$、全连接层的权重矩阵）。设备选 `DEVICE`，也可以在控件里切换。仪表盘用 float32 训练，所以传给它 float32 的数据。下面从代码里用 Adam 训练 60 步：
"""),
    code(r"""
x_train32 = x_train.astype(np.float32)
flow = GradientFlowDashboard((x_train32, y_train), model=models.ConvNet, init="pytorch", optimizer="adam", lr=1e-3,
                             batch_size=64, device=DEVICE)
display(flow)
flow.train(60);
"""),
    code(r"""
first = {name: norms[0] for name, norms in flow.history["grad_norm"].items()}
print("记录梯度的层:", list(first))
ratio = first["conv1"] / first["fc3"]
print(f"第 1 步 ‖∂J/∂W(conv1)‖ / ‖∂J/∂W(fc3)‖ 在 0.1 与 10 之间: {0.1 < ratio < 10}")
print(f"60 步后训练损失低于初始损失的一半: {np.mean(flow.history['loss'][-10:]) < flow.history['loss'][0] / 2}")
""", tags=[CHECK]),
    md(r"""
这个 5 层网络用 ReLU 和 PyTorch 的默认初始化，第一层与最后一层的梯度范数在同一个数量级：没有 3.2 节深层 sigmoid 网络那样的梯度消失。

在控件里把初始化换成"过小 N(0, 0.01²)"，仪表盘会按新的初始化重建模型，再按"训练"即可比较。下一格在代码里做同样的比较：建一个只有初始化不同的仪表盘（不显示），
先看两个初始模型的输出有多大，再训练同样的 60 步，比较第 1 步各层的梯度范数和最后的训练损失：
"""),
    code(r"""
small = GradientFlowDashboard((x_train32, y_train), model=models.ConvNet, init="small", optimizer="adam", lr=1e-3,
                              batch_size=64, device=DEVICE)
xb = nnlib.to_device(x_train32[:64], DEVICE)


def rms(net):
    return float(np.sqrt(np.mean(nnlib.to_numpy(net(xb)) ** 2)))


nnlib.manual_seed(0)                        # 仪表盘用的种子：得到与 flow 相同的初始模型
print(f"初始模型输出（logits）的均方根：默认初始化约 {rms(models.ConvNet().to(DEVICE)):.0e}，过小初始化约 {rms(small.model):.0e}")
small.train(60)
orders = {name: round(float(np.log10(norms[0] / flow.history["grad_norm"][name][0])), 1)
          for name, norms in small.history["grad_norm"].items()}
print("第 1 步各层梯度范数之比（过小 / 默认）的 log10:", orders)
print(f"最后 10 步的平均训练损失：默认初始化约 {np.mean(flow.history['loss'][-10:]):.1f}，"
      f"过小初始化约 {np.mean(small.history['loss'][-10:]):.1f}")
print(f"过小初始化第 1 步的损失 {small.history['loss'][0]:.2f}，即 ln 10 = {np.log(10):.2f}：输出几乎为 0，10 类的概率相同")
""", tags=[CHECK]),
    md(r"""
过小的初始化让信号在前向时逐层缩小：初始模型的输出小了三个多数量级，**每一层**的梯度也小了约三个数量级（log10 在 −3.1 与 −2.6 之间）。
Adam 按梯度的大小归一化步长（3.3 节），所以损失仍在下降，只是 60 步后仍明显高于默认初始化。
"""),
]

# ---------------------------------------------------------------------------------------- 小结与练习
cells += [
    md(r"""
## 小结

- 卷积层是**局部连接、权重共享**的线性映射：`Conv2d(3, 6, 5)` 只有 456 个参数，同样输入输出尺寸的全连接层要 1400 多万个。
- 深度学习库的"卷积"是**互相关**（核不翻转）。输出尺寸 $\lfloor (H + 2p - k)/s \rfloor + 1$；除不尽时 PyTorch 不加提示地忽略最后几行，nnlib 报错。
- 池化没有参数：最大池化取窗口最大值，平均池化取平均。
- 反向传播：$\partial J/\partial K$ 是输入与 $\delta$ 的互相关 $x \star \delta$；$\partial J/\partial x$ 是补零（步幅 $s$ 时先膨胀）的 $\delta$ 与翻转的核的互相关——**卷积的反向还是卷积**。最大池化把 $\delta$ 交给最大值，平均池化平均分配。
- 源文档的 PyTorch `ConvNet` 与 nnlib 的 `ConvNet` 共享 `state_dict`，输出和全部梯度在 float64 下相对误差小于 $10^{-10}$；在随书的手写数字上训练 5 轮（float64），测试准确率达到 98.6%。

## 练习
"""),
    code(CHECK_HELPER),
]

cells += ex.add(
    "输出尺寸",
    r"""
写函数 `conv_output_size(h, k, s=1, p=0)`：返回 PyTorch 给出的输出高度 $\lfloor (h + 2p - k)/s \rfloor + 1$。自检会与 `torch.nn.Conv2d` 的实际输出比较。
想一想：哪些 $(h, k, s, p)$ 组合会让 nnlib 报错？
""",
    r"""
def conv_output_size(h, k, s=1, p=0):
    raise NotImplementedError
""",
    r"""
def test_conv_output_size():
    for h, k, s, p in [(32, 5, 1, 0), (28, 2, 2, 0), (6, 3, 2, 0), (7, 3, 2, 1), (224, 7, 2, 3), (10, 3, 3, 1)]:
        truth = torch.nn.Conv2d(1, 1, k, stride=s, padding=p)(torch.zeros(1, 1, h, h)).shape[-1]
        if conv_output_size(h, k, s, p) != truth:
            return False, f"h={h}, k={k}, s={s}, p={p}：应为 {truth}，你的是 {conv_output_size(h, k, s, p)}。别忘了向下取整和 +1。"
    return True, ""


check_answer("练习 1", test_conv_output_size)
""",
    r"""
def conv_output_size(h, k, s=1, p=0):
    return (h + 2 * p - k) // s + 1
""",
    r"""
当 $(h + 2p - k)$ 不能被 $s$ 整除时 nnlib 报错，例如 $(6, 3, 2, 0)$：$(6 - 3)/2 = 1.5$。$(224, 7, 2, 3)$ 是 ResNet 第一层的设置 {cite}`he2016deep`：$(224 + 6 - 7)/2 = 111.5$，PyTorch 取 112——这个著名的网络实际上忽略了补零后的最后一行。
""",
)

cells += ex.add(
    "卷积核的梯度",
    r"""
4.1.4 节推导了单通道时 $\partial J/\partial K = x \star \delta$。现在推广到一批多通道的输入（$p = 0$，$s = 1$）：
先写出 $\partial J/\partial K_{o,c,u,v}$（$K_{o,c,u,v}$ 出现在哪些输出 $y_{n,o,i,j}$ 里？乘的是哪个输入？），再用 NumPy 实现

`conv_weight_grad(x, delta, k)`：`x` 的形状是 $(N, C, H, W)$，`delta` $= \partial J/\partial y$ 的形状是 $(N, O, H-k+1, W-k+1)$，返回形状为 $(O, C, k, k)$ 的 $\partial J/\partial K$。

不要调用 nnlib 或 PyTorch 的卷积。提示：对核内的 $k^2$ 个偏移 $(u, v)$ 循环（`unfold` 也是这样做的），每个偏移取出 $x$ 中与 $\delta$ 一样大的一块，对 $n, i, j$ 求和（`np.einsum` 很方便）。
自检把你的结果与 nnlib 的 `Conv2d.backward` 算出的 `weight.grad` 比较。
""",
    r"""
def conv_weight_grad(x, delta, k):
    # x: (N, C, H, W)；delta = ∂J/∂y: (N, O, H − k + 1, W − k + 1)；返回 ∂J/∂K: (O, C, k, k)
    raise NotImplementedError
""",
    r"""
def test_conv_weight_grad():
    rng = np.random.default_rng(7)
    for n, c, o, h, w, k in [(1, 1, 1, 5, 5, 3), (2, 3, 4, 7, 6, 3), (3, 2, 5, 6, 8, 2)]:
        x = rng.standard_normal((n, c, h, w))
        layer = nn.Conv2d(c, o, k, dtype="float64")
        delta = rng.standard_normal(layer(x).shape)
        layer.backward(delta)
        truth = layer.weight.grad
        got = np.asarray(conv_weight_grad(x, delta, k), dtype=np.float64)
        case = f"N={n}, C={c}, O={o}, 输入 {h}×{w}, k={k}"
        if got.shape != truth.shape:
            return False, f"{case}：结果的形状应是 (O, C, k, k) = {truth.shape}，你的是 {got.shape}。"
        if np.allclose(got, truth, rtol=1e-10, atol=1e-12):
            continue
        if np.allclose(got, truth[:, :, ::-1, ::-1], rtol=1e-10, atol=1e-12):
            return False, f"{case}：你的结果是正确答案翻转 180° 的样子。偏移 (u, v) 对应的一块从 x 的第 u 行、第 v 列开始，核不翻转。"
        if np.allclose(got * n, truth, rtol=1e-10, atol=1e-12):
            return False, f"{case}：你对批量取了平均。各样本的梯度要相加：J 是整批的损失，每个样本的项都含 K。"
        error = np.abs(got - truth).max()
        return False, (f"{case}：与 nnlib 的 backward 不一致（最大误差 {error:.2g}）。检查求和的下标："
                       f"∂J/∂K[o, c, u, v] = Σ_n Σ_(i,j) δ[n, o, i, j] · x[n, c, i + u, j + v]。")
    return True, ""


check_answer("练习 2", test_conv_weight_grad)
""",
    r"""
def conv_weight_grad(x, delta, k):
    oh, ow = delta.shape[2:]
    grad = np.zeros((delta.shape[1], x.shape[1], k, k))
    for u in range(k):
        for v in range(k):
            patch = x[:, :, u:u + oh, v:v + ow]                          # (N, C, OH, OW)：与 δ 对齐的一块
            grad[:, :, u, v] = np.einsum("noij,ncij->oc", delta, patch)  # 对 n, i, j 求和
    return grad
""",
    r"""
$K_{o,c,u,v}$ 出现在第 $o$ 个输出通道的每一个输出 $y_{n,o,i,j}$ 里，乘的是 $x_{n,c,\,i+u,\,j+v}$，所以 $\partial J/\partial K_{o,c,u,v} = \sum_n \sum_{i,j} \delta_{n,o,i,j}\, x_{n,c,\,i+u,\,j+v}$：
对每个样本和每对通道 $(o, c)$ 是 $x_{n,c} \star \delta_{n,o}$，再对样本求和。参考答案每个偏移 $(u, v)$ 一次算出所有 $(o, c)$。nnlib 用 im2col 一次算完：$\delta\,\text{cols}^\top$ 的每个元素正是这样一个和。
有填充时先给 $x$ 补零；步幅 $s > 1$ 时每个偏移取 `x[:, :, u:u + s*(oh-1) + 1:s, v:v + s*(ow-1) + 1:s]`，这与 4.1.4 节"膨胀 $\delta$"的做法等价。
""",
)

cells += ex.add(
    "手算一个 3×3 互相关",
    r"""
输入 $x$ 和核 $K$ 如下（单通道，无偏置，$p = 0$，$s = 1$）。**手算**输出 $y$（$2 \times 2$），填进 `y_by_hand`。记住：深度学习里的卷积不翻转核。

$$
x = \begin{bmatrix} 1 & 2 & 0 & 1 \\ 0 & 1 & 3 & 1 \\ 2 & 0 & 1 & 0 \\ 1 & 1 & 0 & 2 \end{bmatrix}, \qquad
K = \begin{bmatrix} 1 & 0 & -1 \\ 0 & 1 & 0 \\ 2 & 0 & 0 \end{bmatrix}
$$
""",
    r"""
y_by_hand = [[None, None],
             [None, None]]
""",
    r"""
def test_correlation():
    if any(v is None for row in y_by_hand for v in row):
        raise NotImplementedError
    xe = np.array([[1, 2, 0, 1], [0, 1, 3, 1], [2, 0, 1, 0], [1, 1, 0, 2]], dtype=np.float64)
    ke = np.array([[1, 0, -1], [0, 1, 0], [2, 0, 0]], dtype=np.float64)
    layer = nn.Conv2d(1, 1, 3, bias=False, dtype="float64")
    layer.weight.data = ke[None, None].copy()
    truth = layer(xe[None, None])[0, 0]
    got = np.asarray(y_by_hand, dtype=np.float64)
    if got.shape != (2, 2):
        return False, "输出应是 2×2：(4 − 3)/1 + 1 = 2。"
    if np.array_equal(got, scipy.signal.convolve2d(xe, ke, mode="valid")):
        return False, "这是把核翻转后的（数学上的）卷积。深度学习的卷积不翻转：y[i, j] = Σ K[u, v]·x[i+u, j+v]。"
    return np.array_equal(got, truth), "再算一遍：y[i, j] = Σ_{u,v} K[u, v] · x[i+u, j+v]，窗口从左上角开始。"


check_answer("练习 3", test_correlation)
""",
    r"""
y_by_hand = [[6, 4],
             [-1, 3]]
""",
    r"""
例如 $y_{0,0} = 1 \cdot 1 + (-1) \cdot 0 + 1 \cdot 1 + 2 \cdot 2 = 6$——核的 4 个非零元素 $K_{0,0}, K_{0,2}, K_{1,1}, K_{2,0}$ 分别乘 $x_{0,0}, x_{0,2}, x_{1,1}, x_{2,0}$。如果把核翻转，会得到完全不同的结果（自检能认出这种错误）。
""",
)

cells += ex.add(
    "最大池化的梯度",
    r"""
对练习 3 的 $x$ 做 $2 \times 2$、步幅 2 的最大池化，后一层传回的 $\delta = \begin{bmatrix} 1 & -2 \\ 3 & 0.5 \end{bmatrix}$。写出 $\partial J/\partial x$（$4 \times 4$），填进 `dx_by_hand`。
""",
    r"""
dx_by_hand = None   # 一个 4×4 的列表或数组
""",
    r"""
def test_maxpool_grad():
    if dx_by_hand is None:
        raise NotImplementedError
    xe = np.array([[1, 2, 0, 1], [0, 1, 3, 1], [2, 0, 1, 0], [1, 1, 0, 2]], dtype=np.float64)[None, None]
    pool = nn.MaxPool2d(2)
    pool(xe)
    truth = pool.backward(np.array([[1, -2], [3, 0.5]])[None, None])[0, 0]
    got = np.asarray(dx_by_hand, dtype=np.float64)
    if got.shape != (4, 4):
        return False, "梯度与输入同形：4×4。"
    return np.array_equal(got, truth), "每个 2×2 窗口的 δ 全部交给窗口里的最大值，其余 3 个位置为 0。"


check_answer("练习 4", test_maxpool_grad)
""",
    r"""
dx_by_hand = [[0, 1, 0, 0],
              [0, 0, -2, 0],
              [3, 0, 0, 0],
              [0, 0, 0, 0.5]]
""",
    r"""
四个窗口的最大值分别是 $x_{0,1} = 2$、$x_{1,2} = 3$、$x_{2,0} = 2$、$x_{3,3} = 2$，各自接收整个 $\delta$。注意负的 $\delta$（$-2$）也照样传给最大值：路由只看前向时谁最大，不看梯度的符号。
""",
)

cells += ex.verification_cells()

if __name__ == "__main__":
    build("ch04_1_cnn", cells)
